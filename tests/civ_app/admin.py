from __future__ import annotations

from django.contrib import admin

from tests.civ_app.models import Post, Tag, User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["username", "email", "age"]


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ["title", "author"]
    list_select_related = ["author"]


admin.site.register(Tag)

"""The seed's model example, as written (``database.`` replaced by ``civ_orm_compat.``).

Two additions, marked below: the seed's querying example filters on ``deleted`` and orders by
``created_at``, fields its own ``User`` does not declare. ``Tag`` exercises ManyToManyField and
the remaining field types.
"""

from __future__ import annotations

from civ_orm_compat.orm import (
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    FloatField,
    ForeignKey,
    IntegerField,
    JSONField,
    ManyToManyField,
    Model,
    TextField,
)


class User(Model):
    username = CharField(max_length=50, unique=True)
    email = CharField(max_length=100)
    age = IntegerField(null=True)
    # Added: used by the seed's querying example (exclude(deleted=True), order_by("-created_at")).
    deleted = BooleanField(default=False)
    created_at = DateTimeField(auto_now_add=True)

    class Meta:
        table_name = "users"
        # django-stubs types Meta.indexes as list[Index]; the CIV form takes field names.
        indexes = ["username", "email"]  # type: ignore[list-item]

    def __str__(self) -> str:
        return self.username


class Post(Model):
    title = CharField(max_length=200)
    content = TextField()
    author = ForeignKey(User, related_name="posts")

    class Meta:
        table_name = "posts"

    def __str__(self) -> str:
        return self.title


class Tag(Model):
    name = CharField(max_length=40, unique=True)
    weight = FloatField(default=1.0)
    since = DateField(null=True)
    data = JSONField(default=dict)
    posts = ManyToManyField(Post, related_name="tags")

    class Meta:
        table_name = "civ_tags"
        indexes = [("weight", "since")]  # type: ignore[list-item]

    def __str__(self) -> str:
        return self.name

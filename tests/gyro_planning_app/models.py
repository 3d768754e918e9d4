"""A graph the example shop does not have, for ``plan_slice``.

* a diamond: :class:`Task` reaches :class:`Org` through :class:`Team` and through
  :class:`Project`;
* a self-reference: a task's ``parent`` (which may belong to another team or org);
* a model the walk down from an org does not reach: :class:`Label`, global, itself a tree.
"""

from __future__ import annotations

from django.db import models

__all__ = ["Label", "Org", "Project", "Task", "Team"]


class Org(models.Model):
    name = models.CharField(max_length=50, unique=True)

    objects: models.Manager[Org] = models.Manager()

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    org = models.ForeignKey(Org, on_delete=models.CASCADE)
    name = models.CharField(max_length=50)

    objects: models.Manager[Team] = models.Manager()

    def __str__(self) -> str:
        return self.name


class Project(models.Model):
    org = models.ForeignKey(Org, on_delete=models.CASCADE)
    name = models.CharField(max_length=50)

    objects: models.Manager[Project] = models.Manager()

    def __str__(self) -> str:
        return self.name


class Label(models.Model):
    name = models.CharField(max_length=50)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE)

    objects: models.Manager[Label] = models.Manager()

    def __str__(self) -> str:
        return self.name


class Task(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE)
    project = models.ForeignKey(Project, on_delete=models.CASCADE)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE)
    label = models.ForeignKey(Label, null=True, blank=True, on_delete=models.SET_NULL)
    title = models.CharField(max_length=50)

    objects: models.Manager[Task] = models.Manager()

    def __str__(self) -> str:
        return self.title

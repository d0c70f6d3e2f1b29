"""Idempotent set-up run after ``migrate``: the operator permission, the seeded
groups, and django-q2's retention schedule."""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS

OPERATE_CODENAME = "operate_scheduler"
OPERATE_PERMISSION = f"pipelines_scheduler.{OPERATE_CODENAME}"
OPERATORS_GROUP = "Operators"
VIEWERS_GROUP = "Scheduler viewers"

# (app label, codename) granted to each seeded group.
_VIEW = [
    ("pipelines_scheduler", "view_task"),
    ("pipelines_scheduler", "view_worker"),
    ("pipelines_scheduler", "view_resource"),
    ("pipelines_history", "view_run"),
    ("pipelines_history", "view_event"),
]
_OPERATE = [
    *_VIEW,
    ("pipelines_scheduler", OPERATE_CODENAME),
    ("pipelines_scheduler", "add_resource"),
    ("pipelines_scheduler", "change_resource"),
]


def ensure_groups(using: str = DEFAULT_DB_ALIAS) -> None:
    from django.contrib.auth.models import Group, Permission

    for name, wanted in ((VIEWERS_GROUP, _VIEW), (OPERATORS_GROUP, _OPERATE)):
        group, _ = Group.objects.using(using).get_or_create(name=name)
        for app_label, codename in wanted:
            permission = (
                Permission.objects.using(using)
                .filter(content_type__app_label=app_label, codename=codename)
                .first()
            )
            if permission is not None:
                group.permissions.add(permission)


def ensure_schedule(using: str = DEFAULT_DB_ALIAS) -> None:
    from django_q.models import Schedule

    from .retention import SCHEDULE_FUNC, SCHEDULE_NAME

    Schedule.objects.using(using).get_or_create(
        name=SCHEDULE_NAME,
        defaults={"func": SCHEDULE_FUNC, "schedule_type": Schedule.HOURLY, "repeats": -1},
    )


def post_migrate(using: str = DEFAULT_DB_ALIAS, **_: Any) -> None:
    from django.contrib.auth.models import Group, Permission
    from django_q.models import Schedule

    from scheduler.migrated import tables_exist

    # pipelines_scheduler.operate_scheduler is declared on the Task model (created by
    # django.contrib.auth after the scheduler app migrates, before this app). After a
    # partial migrate the tables may not exist yet: the migrate that creates them does it.
    if tables_exist(using, Group, Permission):
        ensure_groups(using)
    if tables_exist(using, Schedule):
        ensure_schedule(using)

from typing import Any

from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_delete, post_migrate, post_save


def _after_migrate(using: str = DEFAULT_DB_ALIAS, **_: Any) -> None:
    from django_q.models import Schedule

    from scheduler.migrated import tables_exist
    from workers import schedules
    from workers.models import PipelineSchedule

    if using != DEFAULT_DB_ALIAS or not tables_exist(using, Schedule, PipelineSchedule):
        return  # not yet: the migrate that creates these tables does it
    schedules.ensure_maintenance_schedule()
    schedules.sync_settings_schedules()


def _schedule_saved(instance: Any, raw: bool = False, **_: Any) -> None:
    if not raw:
        from workers.schedules import sync_q_schedule

        sync_q_schedule(instance)


def _schedule_deleted(instance: Any, **_: Any) -> None:
    from workers.schedules import drop_q_schedule

    drop_q_schedule(instance)


class WorkersConfig(AppConfig):
    name = "workers"
    label = "pipelines_workers"
    verbose_name = "Workers"

    def ready(self) -> None:
        post_migrate.connect(_after_migrate, sender=self, dispatch_uid="workers.schedules")
        post_save.connect(
            _schedule_saved, sender="pipelines_workers.PipelineSchedule", dispatch_uid="workers.q"
        )
        post_delete.connect(
            _schedule_deleted, sender="pipelines_workers.PipelineSchedule", dispatch_uid="workers.q"
        )

from django.apps import AppConfig


class SchedulerConfig(AppConfig):
    name = "scheduler"
    label = "pipelines_scheduler"
    verbose_name = "Central scheduler"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .metrics.store import on_status_changed
        from .signals import for_each, task_status_changed, task_status_changed_many

        task_status_changed.connect(on_status_changed, dispatch_uid="scheduler.metrics")
        task_status_changed_many.connect(
            for_each(on_status_changed), weak=False, dispatch_uid="scheduler.metrics"
        )
        from .service.sql import is_postgres

        is_postgres()  # read once, from the configured backend (see the function)
        from .dbhealth import watch_pool

        watch_pool()  # a lost database is answered 503 at once (scheduler.dbhealth)

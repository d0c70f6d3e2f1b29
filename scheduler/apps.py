from django.apps import AppConfig


class SchedulerConfig(AppConfig):
    name = "scheduler"
    label = "pipelines_scheduler"
    verbose_name = "Central scheduler"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .dbhealth import watch_pool

        watch_pool()  # a lost database is answered 503 at once (scheduler.dbhealth)

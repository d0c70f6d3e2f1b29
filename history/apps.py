from django.apps import AppConfig
from django.db.models.signals import post_migrate


class HistoryConfig(AppConfig):
    name = "history"
    label = "pipelines_history"
    verbose_name = "Task history"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from scheduler.signals import task_status_changed, task_status_changed_many

        from . import recorder, setup

        task_status_changed.connect(recorder.record, dispatch_uid="history.recorder")
        task_status_changed_many.connect(recorder.record_many, dispatch_uid="history.recorder")
        post_migrate.connect(setup.post_migrate, sender=self, dispatch_uid="history.setup")

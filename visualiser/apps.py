from django.apps import AppConfig


class VisualiserConfig(AppConfig):
    name = "visualiser"
    label = "pipelines_visualiser"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        from scheduler.signals import task_status_committed

        from .publish import on_status_committed

        # Every process that commits status changes pushes them to live views.
        task_status_committed.connect(on_status_committed, dispatch_uid="visualiser.publish")

from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "workers"
    label = "pipelines_workers"
    verbose_name = "Workers"

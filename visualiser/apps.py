from django.apps import AppConfig


class VisualiserConfig(AppConfig):
    name = "visualiser"
    verbose_name = "Dashboard"

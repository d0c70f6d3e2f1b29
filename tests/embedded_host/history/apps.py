from django.apps import AppConfig


class HistoryConfig(AppConfig):
    """The host's own "history" app: label ``history``, tables ``history_*``."""

    name = "tests.embedded_host.history"
    label = "history"
    default_auto_field = "django.db.models.BigAutoField"

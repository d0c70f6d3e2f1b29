from django.db import models


class Event(models.Model):
    """A host model with the same name as one of the pipelines' history models."""

    title = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.title

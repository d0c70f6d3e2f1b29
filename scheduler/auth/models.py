"""API tokens (imported into scheduler.models, so the model belongs to the app)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from .roles import Role


class ApiToken(models.Model):
    """A bearer secret for a worker machine, a script or a person's tools.

    Only the SHA-256 digest of the secret is stored; the secret is shown once,
    when the token is created. A token has one role; linked to a user, calls
    made with it are recorded as that user's and it stops working when the
    user is deactivated.
    """

    ROLE_CHOICES = [(role.value, role.name.lower()) for role in Role]

    name = models.CharField(max_length=100, help_text="What the token is for, e.g. a host.")
    role = models.CharField(max_length=16, choices=ROLE_CHOICES)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="pipelines_api_tokens",
        help_text="Optional: act as this user (operator actions are recorded with it).",
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="Start of the secret.")
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        app_label = "pipelines_scheduler"
        verbose_name = "API token"
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=[role.value for role in Role]), name="pl_apitoken_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.role}, {self.prefix}…)"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

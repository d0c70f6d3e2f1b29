"""``manage.py list_api_tokens``: id, prefix, role, name, user, last use, revocation."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from scheduler.auth.models import ApiToken


class Command(BaseCommand):
    help = "List API tokens (never their secrets)."

    def handle(self, *args: Any, **options: Any) -> None:
        def when(moment: Any) -> str:
            return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"

        self.stdout.write("id\tprefix\trole\tname\tuser\tlast used\trevoked")
        for token in ApiToken.objects.select_related("user").order_by("pk"):
            user = token.user.get_username() if token.user else "-"
            self.stdout.write(
                f"{token.pk}\t{token.prefix}\t{token.role}\t{token.name}\t{user}\t"
                f"{when(token.last_used)}\t{when(token.revoked_at)}"
            )

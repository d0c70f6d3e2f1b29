"""``manage.py revoke_api_token ID_OR_PREFIX``: the token stops working at once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduler.auth.models import ApiToken
from scheduler.auth.tokens import revoke


class Command(BaseCommand):
    help = "Revoke an API token (by id, or by the start of its secret as listed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("token", help="the token's id or the start of its secret (plt_...)")

    def handle(self, *args: Any, **options: Any) -> None:
        key = options["token"].strip()
        found = list(
            ApiToken.objects.filter(pk=int(key))
            if key.isdigit()
            else ApiToken.objects.filter(prefix__startswith=key[:10])
        )
        if key and not key.isdigit() and len(key) > 10:
            found = [t for t in found if key.startswith(t.prefix)]
        if not found:
            raise CommandError(f"no API token matches {key!r} (see manage.py list_api_tokens)")
        if len(found) > 1:
            raise CommandError(f"{len(found)} tokens match {key!r}; give the id")
        token = found[0]
        if revoke(token):
            self.stdout.write(f"revoked token {token.pk} {token.name!r}")
        else:
            self.stdout.write(f"token {token.pk} {token.name!r} was already revoked")

"""``manage.py create_api_token NAME --role worker [--user USERNAME]``: print the secret once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduler.auth.roles import Role
from scheduler.auth.tokens import create_token


class Command(BaseCommand):
    help = (
        "Create an API token and print its secret (shown only this once; only a digest "
        "is stored). Give it to a worker as PIPELINES_API_TOKEN or in scheduler_url."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="what the token is for, e.g. the worker's host")
        parser.add_argument(
            "--role", required=True, choices=[role.value for role in Role], help="its role"
        )
        parser.add_argument("--user", help="act as this user (operator actions recorded with it)")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name or len(name) > 100:
            raise CommandError("the name must be 1 to 100 characters")
        user = None
        if options["user"]:
            model = get_user_model()
            try:
                user = model.objects.get(**{model.USERNAME_FIELD: options["user"]})
            except model.DoesNotExist:
                raise CommandError(f"no user named {options['user']!r}") from None
        new = create_token(name, options["role"], user=user)
        self.stderr.write(
            f"created token {new.token.pk} {name!r} ({new.token.role}); "
            "its secret follows, it will not be shown again:"
        )
        self.stdout.write(new.secret)

"""``manage.py runscheduler``: the luigid equivalent (the runner is scheduler.server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core import checks
from django.core.checks.registry import registry
from django.core.management.base import BaseCommand, CommandError, CommandParser, SystemCheckError

from scheduler.server import Options, SchedulerServer, ServerError

# Checks that load the whole site: every URLconf (the REST API, its schema
# generator, the admin) and every template library (the template and admin
# checks). A scheduler serving only workers never loads them, and they would hold
# about 13 MiB for the life of the process. `manage.py check` and `migrate` still
# run them.
SITE_WIDE_TAGS = frozenset({checks.Tags.urls, checks.Tags.templates, checks.Tags.admin})


def startup_check_messages() -> list[checks.CheckMessage]:
    """What the system checks report, all but the site-wide ones, silenced ones left out."""
    messages: list[checks.CheckMessage] = []
    for check in registry.get_checks(include_deployment_checks=False):
        if SITE_WIDE_TAGS.isdisjoint(getattr(check, "tags", ())):
            messages.extend(check(app_configs=None, databases=None))
    return [message for message in messages if not message.is_silenced()]


class Command(BaseCommand):
    # Run by handle(), without the site-wide checks (see SITE_WIDE_TAGS).
    requires_system_checks: list[str] = []
    help = (
        "Serve the scheduler (Luigi's /api/ protocol), the REST API, the dashboard, the "
        "admin, static files and live updates over WebSockets from one daphne process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--address", default="127.0.0.1", help="Bind address (default 127.0.0.1)."
        )
        parser.add_argument("--port", type=int, default=8082, help="TCP port (default 8082).")
        parser.add_argument(
            "--unix-socket", type=Path, help="Listen on this unix socket instead of TCP."
        )
        parser.add_argument("--background", action="store_true", help="Detach and run as a daemon.")
        parser.add_argument(
            "--pidfile", type=Path, help="Write the pid here; refuse if its pid is alive."
        )
        parser.add_argument(
            "--logdir",
            type=Path,
            help="Write runscheduler.log (rotated daily, 7 kept) here "
            "(default with --background: var/log).",
        )
        parser.add_argument(
            "--access-log", action="store_true", help="Log every HTTP request and WebSocket."
        )
        parser.add_argument(
            "--insecure",
            action="store_true",
            help="Allow a non-loopback --address with authentication off (SCHEDULER_AUTH).",
        )
        parser.add_argument(
            "--shutdown-timeout",
            type=float,
            default=30.0,
            help="Seconds in-flight requests get to finish on SIGTERM (default 30).",
        )
        parser.add_argument("--skip-checks", action="store_true", help="Skip system checks.")

    def handle(self, *args: Any, **options: Any) -> None:
        port = options["port"]
        if not 0 < port < 65536:
            raise CommandError(f"--port must be between 1 and 65535, got {port}")
        if options["shutdown_timeout"] < 0:
            raise CommandError("--shutdown-timeout must not be negative")
        if not options["skip_checks"]:
            self._check()
        server = SchedulerServer(
            Options(
                address=options["address"],
                port=port,
                unix_socket=_absolute(options["unix_socket"]),
                background=options["background"],
                pidfile=_absolute(options["pidfile"]),
                logdir=_absolute(options["logdir"]),
                access_log=options["access_log"],
                shutdown_timeout=options["shutdown_timeout"],
                insecure=options["insecure"],
            )
        )
        try:
            pid = server.run()
        except ServerError as exc:
            raise CommandError(str(exc)) from exc
        if pid is not None:
            self.stdout.write(f"runscheduler running in the background, pid {pid}")

    def _check(self) -> None:
        messages = startup_check_messages()
        serious = [m for m in messages if m.is_serious()]
        if serious:
            lines = "\n".join(str(m) for m in serious)
            raise SystemCheckError(f"System check identified some issues:\n{lines}")
        for message in messages:
            self.stderr.write(str(message))


def _absolute(path: Path | None) -> Path | None:
    return None if path is None else path.expanduser().absolute()

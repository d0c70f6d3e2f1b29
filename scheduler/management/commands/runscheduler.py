"""``manage.py runscheduler``: the luigid equivalent (the runner is scheduler.server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduler.server import Options, SchedulerServer, ServerError


class Command(BaseCommand):
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

    def handle(self, *args: Any, **options: Any) -> None:
        port = options["port"]
        if not 0 < port < 65536:
            raise CommandError(f"--port must be between 1 and 65535, got {port}")
        if options["shutdown_timeout"] < 0:
            raise CommandError("--shutdown-timeout must not be negative")
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


def _absolute(path: Path | None) -> Path | None:
    return None if path is None else path.expanduser().absolute()

"""``manage.py runworker``: run a pipeline, like ``luigi --module ... Task --param value``.

    python manage.py runworker --module examples.daily DailyReport --date 2026-11-21 --workers 4

Without ``--scheduler-url`` the worker talks to the scheduler in this process
through the database; with it, Luigi's HTTP protocol to this project's server or
to a luigid. Parsing only: the work is done by :class:`workers.runtime.Runner`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workers import cli
from workers.client import make_client
from workers.errors import WorkersError
from workers.progress import configure_logging
from workers.runtime import Runner, WorkerOptions
from workers.summary import retcodes


class _Parser(CommandParser):
    """Leaves unknown ``--options`` (the task's parameters) in ``task_args``."""

    def parse_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:
        parsed, extra = self.parse_known_args(args, namespace)
        parsed.task_args = [*getattr(parsed, "task_args", []), *extra]
        return parsed


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


class Command(BaseCommand):
    help = (
        "Run a pipeline: schedule TASK and everything it needs with the scheduler "
        "(through the database, or over HTTP with --scheduler-url) and run the tasks "
        "in child processes. Task parameters are given as --param-name value; other "
        "tasks' parameters as --TaskFamily-param-name value."
    )
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("allow_abbrev", False)
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.__class__ = _Parser
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("task", nargs="?", help="task family to run, e.g. DailyReport")
        parser.add_argument(
            "--module", action="append", default=[], help="module(s) defining the tasks"
        )
        parser.add_argument("--workers", type=int, default=1, help="child processes (default 1)")
        parser.add_argument(
            "--scheduler-url",
            default="",
            help="talk Luigi's HTTP protocol to this scheduler (default: the database)",
        )
        parser.add_argument(
            "--keep-alive",
            action="store_true",
            help="keep asking for work while the scheduler has pending tasks for this worker",
        )
        parser.add_argument(
            "--assistant", action="store_true", help="also run tasks other workers scheduled"
        )
        parser.add_argument(
            "--timeout",
            type=_positive,
            help="seconds a task may run (a task's worker_timeout wins)",
        )
        parser.add_argument("--worker-id", help="override the generated worker id")
        parser.add_argument(
            "--wait-interval", type=_positive, default=1.0, help="seconds between polls when idle"
        )
        parser.add_argument(
            "--ping-interval", type=_positive, default=1.0, help="seconds between heartbeats"
        )
        parser.add_argument(
            "--grace-period",
            type=float,
            default=30.0,
            help="on SIGTERM, seconds running tasks get before they are handed back",
        )
        parser.add_argument(
            "--log-level",
            default="INFO",
            choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
            type=str.upper,
        )
        parser.add_argument("--log-format", default="text", choices=["text", "json"])
        parser.add_argument(
            "--no-lock",
            action="store_true",
            help="allow the same command line to run more than once at a time on this host",
        )
        parser.add_argument("--lock-dir", help="directory of the lock files (default: temp dir)")
        parser.add_argument(
            "--summary",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="print the execution summary at the end (default: yes)",
        )
        parser.add_argument(
            "--progress",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="live progress line (default: when stderr is a terminal)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        configure_logging(options["log_level"], options["log_format"])
        if not options["task"]:
            raise CommandError("no task given: runworker --module MODULE TASK [--param value ...]")
        if options["workers"] < 1:
            raise CommandError(f"--workers must be at least 1, got {options['workers']}")
        try:
            cli.import_modules(options["module"])
            cls = cli.task_class(options["task"])
            arguments = cli.parse_task_arguments(cls, options["task_args"])
            cli.apply_overrides(arguments.overrides)
            root = cli.build_root(cls, arguments)
            client = make_client(options["scheduler_url"])
        except (cli.UsageError, ValueError) as exc:
            raise CommandError(str(exc), returncode=2) from None

        lock = cli.CommandLock(sys.argv, options["lock_dir"])
        if not options["no_lock"] and not lock.acquire():
            self.stderr.write(
                f"runworker: the same command is already running (pid {lock.holder()}); "
                "use --no-lock to run it anyway"
            )
            sys.exit(retcodes()["already_running"])
        progress = options["progress"]
        runner = Runner(
            client,
            [root],
            WorkerOptions(
                workers=options["workers"],
                keep_alive=options["keep_alive"],
                assistant=options["assistant"],
                timeout=options["timeout"],
                worker_id=options["worker_id"],
                wait_interval=options["wait_interval"],
                wait_jitter=min(options["wait_interval"], 1.0),
                ping_interval=options["ping_interval"],
                grace_period=options["grace_period"],
                summary=options["summary"],
                progress=sys.stderr.isatty() if progress is None else progress,
            ),
            out=self.stdout,
        )
        try:
            code = runner.run()
        except WorkersError as exc:
            raise CommandError(str(exc).splitlines()[0], returncode=2) from None
        finally:
            lock.release()
        sys.exit(code)

"""Pipeline runs on demand: record a checked request, queue it on django-q2, run it.

:func:`start` writes the :class:`~workers.models.PipelineRun` row and the django-q2
queue entry in one transaction (the ORM broker keeps its queue in the same
database), so a run is either queued and recorded, or neither.

:func:`execute` is what a ``qcluster`` worker calls. It runs the pipeline as a
``runworker`` subprocess in direct-database mode (no HTTP, the same code path
as ``manage.py runworker``) rather than inside the cluster's worker process:
the cluster's workers are daemonic processes (they may not fork runworker's
child processes) and live for many tasks, while user code should be imported
fresh for every run (code changes are picked up, module state does not leak
between runs, a crash or ``sys.exit`` in user code cannot take the cluster
worker down) and runworker's own signal handling (SIGTERM hands running tasks
back) works in its own main thread.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
from typing import IO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from workers import conf
from workers.models import PipelineRun, PipelineSchedule, RunState, RunTrigger
from workers.run_requests import CheckedRun
from workers.summary import retcodes

logger = logging.getLogger(__name__)

EXECUTE = "workers.runs.execute"
STOP_GRACE = 30.0


def start(
    checked: CheckedRun,
    *,
    trigger: str = RunTrigger.API,
    requested_by: str = "",
    schedule: PipelineSchedule | None = None,
) -> PipelineRun:
    """Record the run and queue it (one transaction). A second active run of the same
    schedule violates ``pl_run_one_active_per_schedule`` (IntegrityError)."""
    from django_q.tasks import async_task

    with transaction.atomic():
        run = PipelineRun.objects.create(
            module=checked.module,
            family=checked.family,
            params=checked.params,
            workers=checked.workers,
            trigger=trigger,
            schedule=schedule,
            requested_by=requested_by,
            root_task_id=checked.root_task_id,
        )
        run.q_task_id = async_task(EXECUTE, run.pk, task_name=f"pipeline run {run.pk}")
        run.save(update_fields=["q_task_id"])
    logger.info(
        "run %s queued: %s.%s %s (%s by %s)",
        run.pk,
        run.module,
        run.family,
        run.params,
        trigger,
        requested_by or "-",
    )
    return run


def runworker_command(run: PipelineRun) -> list[str]:
    checked = CheckedRun(run.module, run.family, run.params, run.workers, run.root_task_id)
    return [
        sys.executable,
        "-m",
        "django",
        "runworker",
        *checked.runworker_args(),
        "--no-progress",
    ]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = settings.SETTINGS_MODULE
    # The subprocess imports the project (and the user's modules) as this process does.
    paths = [os.getcwd(), *(p for p in sys.path if p)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _tail(log: IO[bytes]) -> str:
    limit = conf.log_chars()
    log.seek(0, os.SEEK_END)
    size = log.tell()
    log.seek(max(0, size - limit))
    text = log.read().decode("utf-8", errors="replace")
    return text if size <= limit else "...\n" + text.split("\n", 1)[-1]


def outcome_name(code: int | None) -> str:
    if code is None:
        return "not started"
    if code == 0:
        return "success"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    names = {value: name for name, value in retcodes().items()}
    return names.get(code, f"exit code {code}")


def _wait(process: subprocess.Popen, timeout: float | None) -> int:
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        logger.warning(
            "run timed out after %s s: stopping runworker (pid %s)", timeout, process.pid
        )
        process.terminate()
        try:
            return process.wait(STOP_GRACE + 5)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()


def execute(run_id: int) -> str:
    """Run one queued run to its end (called by a qcluster worker); returns its state."""
    claimed = PipelineRun.objects.filter(pk=run_id, state=RunState.QUEUED).update(
        state=RunState.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        logger.warning("run %s is not queued (already run, or deleted): nothing to do", run_id)
        return "not queued"
    run = PipelineRun.objects.get(pk=run_id)
    command = runworker_command(run)
    logger.info("run %s: %s", run_id, " ".join(command[3:]))
    code: int | None = None
    with tempfile.TemporaryFile() as log:
        try:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=_environment()
            )
            code = _wait(process, conf.run_timeout())
        except OSError as exc:
            log.write(f"could not start runworker: {exc}\n".encode())
        tail = _tail(log)
    run.state = RunState.SUCCEEDED if code == 0 else RunState.FAILED
    run.exit_code = code
    run.outcome = outcome_name(code)
    run.finished_at = timezone.now()
    run.log_tail = tail
    run.save(update_fields=["state", "exit_code", "outcome", "finished_at", "log_tail"])
    logger.info("run %s %s: %s", run_id, run.state, run.outcome)
    return run.state

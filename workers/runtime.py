"""The worker loop: schedule, claim, execute, report, heartbeat.

:class:`Runner` does what a Luigi worker does, against any
:class:`~workers.client.SchedulerClient`:

1. walk the graph below the root tasks (``complete()`` in parallel threads) and
   register every task (in bulk on the direct path), then ``add_worker``;
2. ping from a background thread while it works;
3. loop on ``get_work`` (sending ``current_tasks``), hand each task to an idle
   child process, report DONE or FAILED (JSON-encoded traceback in ``expl``;
   the last result goes with the next ``get_work``, one ``report_and_get_work``
   call), register dynamic dependencies and report the task PENDING with
   ``new_deps``;
4. stop when there is nothing left for it (or, with ``keep_alive``, when the
   scheduler has no pending task for it), print the summary, return the exit code.

SIGTERM or Ctrl-C stops claiming; running tasks get ``grace_period`` seconds to
finish, then their children are killed and the tasks handed back (reported
FAILED, then forgiven, so they are PENDING again at once). A second signal
hands back at once.
"""

from __future__ import annotations

import getpass
import importlib
import logging
import os
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from workers import boundary
from workers.client import SchedulerClient, SchedulerClientError
from workers.errors import WorkersError
from workers.executor import ChildPool, Result, Update
from workers.progress import Progress
from workers.registry import get_task_class
from workers.scheduling import Plan, parallel_map, registration_payloads, task_payload, walk
from workers.summary import RunRecord, classify, exit_code, render, retcodes
from workers.task import Task

logger = logging.getLogger(__name__)


@dataclass
class WorkerOptions:
    workers: int = 1
    keep_alive: bool = False
    assistant: bool = False
    #: Seconds a task may run (a task's ``worker_timeout`` wins); None: no limit.
    timeout: float | None = None
    worker_id: str | None = None
    wait_interval: float = 1.0
    wait_jitter: float = 0.5
    ping_interval: float = 1.0
    grace_period: float = 30.0
    check_threads: int = 8
    summary: bool = True
    progress: bool = False


def make_worker_id(workers: int) -> tuple[str, list[list[Any]]]:
    """Luigi's worker id format and the ``add_worker`` info that goes with it."""
    salt = str(random.randrange(100_000_000, 1_000_000_000))
    host = socket.gethostname()
    try:
        username = getpass.getuser()
    except Exception:
        username = "unknown"
    pid = os.getpid()
    worker_id = (
        f"Worker(salt={salt}, workers={workers}, host={host}, username={username}, pid={pid})"
    )
    info = [
        ["salt", salt],
        ["workers", workers],
        ["host", host],
        ["username", username],
        ["pid", pid],
    ]
    return worker_id, info


class Runner:
    """One worker run over the graph below ``roots``."""

    def __init__(
        self,
        client: SchedulerClient,
        roots: list[Task],
        options: WorkerOptions | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.client = client
        self.roots = roots
        self.options = options or WorkerOptions()
        self.out = out or sys.stdout
        generated, self.info = make_worker_id(self.options.workers)
        self.worker_id = self.options.worker_id or generated
        self.host = socket.gethostname()
        self.plan = Plan()
        self.record = RunRecord()
        self.pool = ChildPool(self.options.workers)
        self.progress = Progress(enabled=self.options.progress)
        self.notes: list[str] = []
        self._stop = threading.Event()  # set once the run is over (stops the ping thread)
        self._stopping = False  # SIGTERM/SIGINT: no new tasks
        self._deadline = 0.0
        self._disabled = False
        # Results not yet reported: they go with the next get_work, or on their own
        # before the loop waits or stops.
        self._unreported: list[tuple[Task, str, str]] = []

    # ------------------------------------------------------------------ public
    def run(self) -> int:
        """Schedule and run everything; return the exit code (summary printed)."""
        started = time.monotonic()
        extra: list[str] = []
        self.plan = walk(self.roots, self.options.check_threads)  # cycles raise here
        try:
            with self._signals():
                self._schedule()
                self._work()
        except SchedulerClientError as exc:
            logger.error("scheduler error, stopping: %s", exc)
            self.notes.append(f"the worker stopped early: {exc}")
            self._hand_back(self.pool.kill_busy(), report=False)
            extra.append("unhandled_exception")
        finally:
            self._stop.set()
            self.pool.shutdown()
            self.progress.finish()
        outcomes = classify(self.plan, self.record, self._complete_now)
        code = exit_code(outcomes.values(), retcodes(), *extra)
        if self.options.summary:
            text = render(
                self.plan,
                outcomes,
                self.record,
                worker_id=self.worker_id,
                seconds=time.monotonic() - started,
                code=code,
                notes=self.notes,
            )
            self.out.write(text + "\n")
            self.out.flush()
        self.client.close()
        return code

    # ------------------------------------------------------------------ scheduling
    def _schedule(self) -> None:
        payloads = registration_payloads(
            self.plan, self.plan.order, self.worker_id, self.options.assistant
        )
        logger.info(
            "registering %d tasks with the scheduler (%s) as %s",
            len(payloads),
            self.client.where,
            self.worker_id,
        )
        self.client.add_tasks(payloads)
        first = self.plan.roots[0] if self.plan.roots else ""
        self.client.call(
            "add_worker", worker=self.worker_id, info=[*self.info, ["first_task", first]]
        )
        self.progress.total = sum(1 for i in self.plan.initial.values() if i.value == "pending")

    # ------------------------------------------------------------------ the loop
    def _work(self) -> None:
        self.pool.start()  # fork before any thread starts
        pinger = threading.Thread(target=self._ping_forever, name="runworker-ping", daemon=True)
        pinger.start()
        try:
            self._loop()
        finally:
            self._stop.set()
            pinger.join(timeout=5)

    def _loop(self) -> None:
        options = self.options
        while True:
            self._handle(self.pool.poll(0))
            if self._stopping or self._disabled or not self.pool.has_idle():
                self._flush_reports()
            if self._stopping or self._disabled:
                if not self.pool.busy:
                    return
                if self._stopping and time.monotonic() >= self._deadline:
                    self._hand_back(self.pool.kill_busy())
                    return
                self._handle(self.pool.poll(0.2))
                continue
            if not self.pool.has_idle():
                self._handle(self.pool.poll(1.0))
                continue
            reply = self._get_work()
            if reply.get("worker_state") == "disabled":
                logger.warning("the scheduler disabled this worker: finishing running tasks")
                self.notes.append("the scheduler disabled this worker")
                self._disabled = True
                continue
            task_id = reply.get("task_id")
            if task_id:
                self._start(task_id, reply)
                continue
            if not self.pool.busy:
                if not self._keep_alive(reply):
                    return
                self._stop.wait(options.wait_interval + random.uniform(0, options.wait_jitter))
                continue
            self._handle(self.pool.poll(options.wait_interval))

    def _get_work(self) -> dict[str, Any]:
        """get_work, carrying the last unreported result (the others go first)."""
        last = self._unreported.pop() if self._unreported else None
        self._flush_reports()
        arguments = {
            "worker": self.worker_id,
            "host": self.host,
            "assistant": self.options.assistant,
            "current_tasks": list(self.pool.running()),
        }
        if last is None:
            return self.client.call("get_work", **arguments)
        return self.client.report_and_get_work(self._report_payload(*last), **arguments)

    def _flush_reports(self) -> None:
        unreported, self._unreported = self._unreported, []
        for task, status, expl in unreported:
            self._report(task, status, expl)

    def _keep_alive(self, reply: dict[str, Any]) -> bool:
        if not self.options.keep_alive:
            return False
        if self.options.assistant:
            return True
        return int(reply.get("n_pending_tasks") or 0) > 0

    def _start(self, task_id: str, reply: dict[str, Any]) -> None:
        if task_id in self.pool.running():
            return  # a resend of what we already run
        task = self.plan.tasks.get(task_id) or self._load(task_id, reply)
        if task is None:
            return
        timeout = task.worker_timeout or self.options.timeout
        logger.info("%s: running %r", task_id, task)
        try:
            self.pool.submit(task, float(timeout) if timeout else None)
        except RuntimeError as exc:
            self._report(task, "FAILED", expl=str(exc))
            self.record.failed[task_id] = str(exc)
        self.progress.update(running=len(self.pool.busy))

    def _load(self, task_id: str, reply: dict[str, Any]) -> Task | None:
        """A task this worker did not schedule (assistants): import and build it."""
        family, module = reply.get("task_family"), reply.get("task_module")
        try:
            if module:
                importlib.import_module(module)
            task = get_task_class(str(family)).from_str_params(reply.get("task_params") or {})
        except Exception as exc:
            error = f"cannot load task {family} from module {module}: {exc}"
            logger.error("%s: %s", task_id, error)
            self.client.call(
                "add_task",
                task_id=task_id,
                worker=self.worker_id,
                status="FAILED",
                runnable=False,
                expl=error,
                assistant=self.options.assistant,
            )
            return None
        self.plan.tasks[task_id] = task
        return task

    # ------------------------------------------------------------------ results
    def _handle(self, news: list[Result | Update]) -> None:
        for item in news:
            if isinstance(item, Update):
                self._forward(item)
            else:
                self._finish(item)
        if news:
            self.progress.update(
                done=len(self.record.completed),
                failed=len(self.record.failed),
                running=len(self.pool.busy),
            )

    def _forward(self, update: Update) -> None:
        try:
            if update.kind == "status_message":
                self.client.call(
                    "set_task_status_message", task_id=update.task_id, status_message=update.value
                )
            elif update.kind == "progress_percentage":
                self.client.call(
                    "set_task_progress_percentage",
                    task_id=update.task_id,
                    progress_percentage=update.value,
                )
            elif update.kind == "tracking_url":
                self.client.call(
                    "add_task",
                    task_id=update.task_id,
                    worker=self.worker_id,
                    status="RUNNING",
                    tracking_url=update.value,
                )
        except SchedulerClientError as exc:
            logger.warning("%s: could not forward %s: %s", update.task_id, update.kind, exc)

    def _finish(self, result: Result) -> None:
        task = self.plan.tasks[result.task_id]
        if result.status == "PENDING":
            self._suspend(task, result.new_deps)
            return
        if result.status == "DONE":
            logger.info("%s: done in %.2f s", task.task_id, result.seconds)
            self.record.completed.add(task.task_id)
            self.record.failed.pop(task.task_id, None)
        else:
            logger.error("%s: failed: %s", task.task_id, result.error)
            self.record.failed[task.task_id] = result.error
        self._unreported.append((task, result.status, result.expl))

    def _suspend(self, task: Task, requested: list[Task]) -> None:
        """run() yielded tasks that are not complete: register them, then wait for them."""
        try:
            found = walk(requested, self.options.check_threads)
        except WorkersError as exc:
            logger.error("%s: dynamic dependencies: %s", task.task_id, exc)
            self.record.failed[task.task_id] = str(exc)
            self._report(task, "FAILED", expl=str(exc))
            return
        new = self.plan.merge(found)
        self.client.add_tasks(
            registration_payloads(self.plan, new, self.worker_id, self.options.assistant)
        )
        self.progress.total += sum(1 for i in new if self.plan.initial[i].value == "pending")
        ids = list(dict.fromkeys(t.task_id for t in requested))
        self.plan.deps[task.task_id] = list(
            dict.fromkeys([*self.plan.deps.get(task.task_id, []), *ids])
        )
        logger.info("%s: waiting for %d dynamic dependencies", task.task_id, len(ids))
        self.client.call(
            "add_task",
            **task_payload(
                task,
                self.worker_id,
                status="PENDING",
                runnable=True,
                new_deps=ids,
                assistant=self.options.assistant,
            ),
        )

    def _report(self, task: Task, status: str, expl: str) -> None:
        self.client.call("add_task", **self._report_payload(task, status, expl))

    def _report_payload(self, task: Task, status: str, expl: str) -> dict[str, Any]:
        return task_payload(
            task,
            self.worker_id,
            status=status,
            runnable=None,
            new_deps=[],
            expl=expl,
            assistant=self.options.assistant,
        )

    def _hand_back(self, tasks: list[Task], report: bool = True) -> None:
        """Give running tasks back to the scheduler, PENDING again: with this project's
        release_task; a luigid, which has no such call, gets FAILED then forgiven."""
        for task in tasks:
            logger.warning("%s: handing back (the worker is stopping)", task.task_id)
            if not report:
                continue
            try:
                try:
                    self.client.call("release_task", task_id=task.task_id, worker=self.worker_id)
                except SchedulerClientError:
                    self._report(task, "FAILED", expl='"handed back: the worker stopped"')
                    self.client.call("forgive_failures", task_id=task.task_id)
            except SchedulerClientError as exc:
                logger.error("%s: could not hand back: %s", task.task_id, exc)
        if tasks:
            self.notes.append(
                f"{len(tasks)} running tasks were handed back when the worker stopped"
            )

    # ------------------------------------------------------------------ heartbeat, signals
    def _ping_forever(self) -> None:
        try:
            while not self._stop.wait(self.options.ping_interval):
                try:
                    reply = self.client.call("ping", worker=self.worker_id)
                except SchedulerClientError as exc:
                    logger.warning("failed pinging the scheduler: %s", exc)
                    continue
                for message in (reply or {}).get("rpc_messages") or []:
                    logger.info("scheduler message ignored: %s", message.get("name"))
        finally:
            self.client.close()

    @contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(signum: int, _frame: Any) -> None:
            if self._stopping:
                self._deadline = 0.0
                return
            self._stopping = True
            self._deadline = time.monotonic() + self.options.grace_period
            if not self.pool.busy:
                self._stop.set()  # wakes a keep-alive wait
            logger.warning(
                "%s: claiming no new tasks; %d running get %g s to finish",
                signal.Signals(signum).name,
                len(self.pool.busy),
                self.options.grace_period,
            )

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _complete_now(self, task_ids: list[str]) -> set[str]:
        tasks = [self.plan.tasks[task_id] for task_id in task_ids]
        checks = parallel_map(boundary.is_complete, tasks, self.options.check_threads)
        return {
            task.task_id
            for task, (done, error) in zip(tasks, checks, strict=True)
            if done and not error
        }

"""Fixtures for the scheduler service tests: a fake clock and config overrides."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from scheduler import rpc
from scheduler.conf import get_config
from scheduler.service import Ctx

T0 = 1_800_000_000.0


class Scheduler:
    """Calls the scheduler the way the HTTP view does, with a clock the test moves."""

    def __init__(self) -> None:
        self.now = T0
        self.config = dataclasses.replace(get_config(), prune_interval=0.0)

    def configure(self, **options: Any) -> None:
        if "resources" in options:
            options["resources"] = tuple(sorted(options["resources"].items()))
        self.config = dataclasses.replace(self.config, **options)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def ctx(self) -> Ctx:
        return Ctx(now=self.now, config=self.config)

    def __call__(self, method: str, **arguments: Any) -> Any:
        return rpc.call(method, arguments, ctx=self.ctx())

    # Shorthands for the common calls.
    def add(self, task_id: str, worker: str = "W", **arguments: Any) -> None:
        arguments.setdefault("family", task_id.split("_")[0])
        self("add_task", task_id=task_id, worker=worker, **arguments)

    def work(self, worker: str = "W", **arguments: Any) -> dict:
        arguments.setdefault("current_tasks", [])
        return self("get_work", worker=worker, **arguments)

    def next_id(self, worker: str = "W", **arguments: Any) -> str | None:
        return self.work(worker, **arguments)["task_id"]

    def finish(self, task_id: str, worker: str = "W", status: str = "DONE", **arguments) -> None:
        self("add_task", task_id=task_id, worker=worker, status=status, **arguments)

    def status(self, task_id: str) -> str | None:
        from scheduler.models import Task

        task = Task.objects.filter(pk=task_id).first()
        return None if task is None else task.status


@pytest.fixture
def sched(db):
    scheduler = Scheduler()
    yield scheduler
    # Every scenario must leave the maintained counters equal to a recount.
    from scheduler.service.invariants import violations

    assert violations(config=scheduler.config) == []

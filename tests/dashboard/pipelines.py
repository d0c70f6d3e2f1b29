"""Task classes the dashboard tests run with ``manage.py runworker``.

``Report`` is a small daily pipeline: for each day, ``Load`` needs ``Transform``
needs two ``Extract`` (one per source). The ``broken`` source fails, so its day's
Transform and Load stay PENDING with a failed upstream, and so does Report.
``Gate`` runs until a file appears, reporting progress and a status message.
"""

from __future__ import annotations

import time
from pathlib import Path

from workers import IntParameter, LocalTarget, Parameter, Task, WrapperTask

DAYS = 3
SOURCES = ("orders", "customers")
BROKEN_DAY = 2


class _Step(Task):
    root = Parameter()
    day = IntParameter()

    def output(self) -> LocalTarget:
        return LocalTarget(Path(self.root) / "out" / self.task_id)

    def run(self) -> None:
        with self.output().open("w") as out:
            out.write("ok\n")


class Extract(_Step):
    source = Parameter()
    resources = {"db": 1}

    def run(self) -> None:
        if self.day == BROKEN_DAY and self.source == SOURCES[0]:
            raise RuntimeError(f"source {self.source} has no data for day {self.day}")
        super().run()


class Transform(_Step):
    def requires(self) -> list[Extract]:
        return [Extract(root=self.root, day=self.day, source=s) for s in SOURCES]


class Load(_Step):
    def requires(self) -> Transform:
        return Transform(root=self.root, day=self.day)


class Report(WrapperTask):
    root = Parameter()

    def requires(self) -> list[Load]:
        return [Load(root=self.root, day=d) for d in range(1, DAYS + 1)]


class Gate(Task):
    """Runs until ``<root>/open`` exists; 50% and a message while it waits."""

    root = Parameter()

    def output(self) -> LocalTarget:
        return LocalTarget(Path(self.root) / "out" / self.task_id)

    def run(self) -> None:
        self.set_status_message("waiting for the gate to open")
        self.set_progress_percentage(50)
        deadline = time.monotonic() + 60
        while not (Path(self.root) / "open").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        with self.output().open("w") as out:
            out.write("ok\n")

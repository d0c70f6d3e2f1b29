"""Pipelines the live tests run with real Luigi workers, in-process and via ``luigi``.

Every task takes ``root``, a per-test directory: outputs and markers go under it,
and because it is a significant parameter every test gets its own task ids (the
luigid backend keeps state across tests). Markers are what the tests assert on:

- ``runs/<task_id>``: created with ``open(path, "x")`` when ``run()`` starts, so a
  second run of the same task fails loudly instead of passing unnoticed;
- ``attempts/<task_id>.<n>``: one per attempt, for tasks meant to run again;
- ``order.log``: one line per run, in the order runs started.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import luigi


class LiveTask(luigi.Task):
    root = luigi.Parameter()

    def path(self, *parts: str) -> Path:
        return Path(self.root, *parts)

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.path("out", self.task_id)))

    def mark_run(self, **extra: object) -> dict:
        """Claim this task's one run marker; raises FileExistsError on a second run."""
        marker = self.path("runs", self.task_id)
        marker.parent.mkdir(parents=True, exist_ok=True)
        record = {"pid": os.getpid(), "start": time.time(), **extra}
        with open(marker, "x") as handle:
            json.dump(record, handle)
        self.log_order()
        return record

    def mark_attempt(self) -> int:
        """Record one more attempt; return its number (1-based)."""
        directory = self.path("attempts")
        directory.mkdir(parents=True, exist_ok=True)
        number = 1
        while True:
            try:
                with open(directory / f"{self.task_id}.{number}", "x") as handle:
                    handle.write(str(os.getpid()))
                return number
            except FileExistsError:
                number += 1

    def log_order(self) -> None:
        with open(self.path("order.log"), "a") as handle:
            handle.write(self.task_id + "\n")

    def finish(self) -> None:
        with self.output().open("w") as handle:
            handle.write(self.task_id)


# -- a small chain -------------------------------------------------------------------


class Extract(LiveTask):
    def run(self) -> None:
        self.mark_run()
        self.finish()


class Transform(LiveTask):
    def requires(self) -> Extract:
        return Extract(root=self.root)

    def run(self) -> None:
        assert self.input().exists()
        self.mark_run()
        self.finish()


class Load(LiveTask):
    def requires(self) -> Transform:
        return Transform(root=self.root)

    def run(self) -> None:
        self.mark_run()
        self.finish()


# -- a wide DAG for several worker processes -----------------------------------------


class Node(LiveTask):
    layer = luigi.IntParameter()
    index = luigi.IntParameter()
    width = luigi.IntParameter(default=10)

    def requires(self) -> list[Node]:
        if self.layer == 0:
            return []
        parents = sorted({self.index, (self.index + 1) % self.width})
        return [
            Node(root=self.root, layer=self.layer - 1, index=i, width=self.width) for i in parents
        ]

    def run(self) -> None:
        self.mark_run()
        time.sleep(0.05)
        self.finish()


class Grid(LiveTask):
    """``layers * width`` nodes plus this task: 61 tasks with the defaults."""

    layers = luigi.IntParameter(default=6)
    width = luigi.IntParameter(default=10)

    def requires(self) -> list[Node]:
        return [
            Node(root=self.root, layer=self.layers - 1, index=i, width=self.width)
            for i in range(self.width)
        ]

    def run(self) -> None:
        self.mark_run()
        self.finish()


# -- failures, retries, disabling ----------------------------------------------------


class Fails(LiveTask):
    def run(self) -> None:
        self.mark_attempt()
        raise RuntimeError(f"boom from {self.task_id}")


class AfterFail(LiveTask):
    def requires(self) -> Fails:
        return Fails(root=self.root)

    def run(self) -> None:
        self.mark_run()
        self.finish()


class FailTop(LiveTask):
    def requires(self) -> AfterFail:
        return AfterFail(root=self.root)

    def run(self) -> None:
        self.mark_run()
        self.finish()


class FlakyOnce(LiveTask):
    """Fails its first attempt, succeeds on the second."""

    def run(self) -> None:
        if self.mark_attempt() == 1:
            raise RuntimeError("first attempt fails on purpose")
        self.finish()


class FailsUntilAllowed(LiveTask):
    """Fails until ``<root>/allow`` exists; disabled by the scheduler after 2 failures."""

    retry_count = 2

    def run(self) -> None:
        self.mark_attempt()
        if not self.path("allow").exists():
            raise RuntimeError("not allowed yet")
        self.finish()


# -- resources and priorities --------------------------------------------------------


class Exclusive(LiveTask):
    """Holds one unit of ``resource`` for ``seconds``; records when it ran."""

    label = luigi.Parameter()
    resource = luigi.Parameter()
    seconds = luigi.FloatParameter(default=0.8)

    @property
    def resources(self) -> dict[str, int]:
        return {self.resource: 1}

    def run(self) -> None:
        start = time.time()
        time.sleep(self.seconds)
        with open(self.path("spans.log"), "a") as handle:
            handle.write(json.dumps({"task": self.task_id, "start": start, "end": time.time()}))
            handle.write("\n")
        self.finish()


class ResourcePair(LiveTask):
    resource = luigi.Parameter()

    def requires(self) -> list[Exclusive]:
        return [Exclusive(root=self.root, label=x, resource=self.resource) for x in ("a", "b")]

    def run(self) -> None:
        self.finish()


PRIORITIES = (3, 1, 10, 5, 7)


class Prioritized(LiveTask):
    level = luigi.IntParameter()

    @property
    def priority(self) -> int:
        return self.level

    def run(self) -> None:
        self.mark_run()
        self.finish()


class PriorityTop(LiveTask):
    def requires(self) -> list[Prioritized]:
        return [Prioritized(root=self.root, level=level) for level in PRIORITIES]

    def run(self) -> None:
        self.mark_run()
        self.finish()


# -- a worker that dies mid-task -----------------------------------------------------


class Sleepy(LiveTask):
    """First attempt records its pid in ``first_attempt`` and hangs; later ones finish."""

    def run(self) -> None:
        first = self.path("first_attempt")
        try:
            with open(first, "x") as handle:
                handle.write(str(os.getpid()))
        except FileExistsError:
            self.mark_run()
            self.finish()
            return
        time.sleep(600)
        raise RuntimeError("the first attempt should have been killed")


class SleepyTop(LiveTask):
    def requires(self) -> Sleepy:
        return Sleepy(root=self.root)

    def run(self) -> None:
        self.mark_run()
        self.finish()

"""Evidence of every task run, written by the tasks themselves, read by the tests.

Each run appends ``S <task_id> <pid> <time>`` when it starts and
``E <task_id> <pid> <time>`` when it has written its output, to one journal
file opened with ``O_APPEND`` (one ``write`` per line, so lines from
concurrent processes never interleave). The tests then ask two questions per
task id: did two runs overlap in time (ran twice at once), and did it run more
than once at all.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

FILE = "journal.log"


def record(root: str | Path, event: str, task_id: str) -> None:
    line = f"{event} {task_id} {os.getpid()} {time.time():.6f}\n".encode()
    fd = os.open(Path(root) / FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


@dataclass
class Run:
    task_id: str
    pid: int
    start: float
    end: float = math.inf  # no end line: the run was killed (or is still going)


def runs(root: str | Path, deaths: dict[int, float] | None = None) -> dict[str, list[Run]]:
    """Every run per task id; a run without an end line ends at its pid's death
    time from ``deaths`` (seen by the test), or never."""
    deaths = deaths or {}
    path = Path(root) / FILE
    found: dict[str, list[Run]] = defaultdict(list)
    open_runs: dict[tuple[str, int], Run] = {}
    if not path.exists():
        return {}
    for line in path.read_text().splitlines():
        event, task_id, pid, at = line.split(" ")
        key = (task_id, int(pid))
        if event == "S":
            run = Run(task_id, int(pid), float(at), deaths.get(int(pid), math.inf))
            open_runs[key] = run
            found[task_id].append(run)
        elif event == "E" and key in open_runs:
            open_runs.pop(key).end = float(at)
    return dict(found)


def overlaps(all_runs: dict[str, list[Run]]) -> list[str]:
    """Task ids with two runs at the same time, described."""
    problems = []
    for task_id, task_runs in all_runs.items():
        ordered = sorted(task_runs, key=lambda r: r.start)
        for first, second in itertools.pairwise(ordered):
            if second.start < first.end:
                problems.append(
                    f"{task_id}: pid {second.pid} started at {second.start:.3f} while pid "
                    f"{first.pid} ran ({first.start:.3f}..{first.end:.3f})"
                )
    return problems


def duplicates(all_runs: dict[str, list[Run]]) -> dict[str, int]:
    """Task ids that ran more than once, with their number of runs."""
    return {task_id: len(r) for task_id, r in all_runs.items() if len(r) > 1}

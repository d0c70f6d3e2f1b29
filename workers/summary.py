"""What happened to every task of a run: outcomes, the summary text, the exit code.

The categories follow Luigi's execution summary; the exit code is the largest
code of the categories present, as Luigi's ``[retcode]`` section does, and is
configurable the same way (``[retcode]`` in luigi.cfg, or the Django setting
``PIPELINES_RETCODES``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from workers.scheduling import Initial, Plan
from workers.task import Task


class Outcome(enum.Enum):
    """Where a task of the run ended, from this worker's point of view."""

    # Run successfully by this worker.
    COMPLETED = "ran successfully"
    # complete() was already True when the worker scheduled it.
    ALREADY_DONE = "were already complete"
    # Not run here, but complete at the end: another worker ran it.
    DONE_ELSEWHERE = "were completed by other workers"
    # Run by this worker, and the last run failed (or its child died or timed out).
    FAILED = "failed"
    # complete() or requires() raised while scheduling.
    SCHEDULING_ERROR = "failed scheduling (complete() or requires() raised)"
    # An external task whose output is missing.
    MISSING_EXTERNAL = "are missing external dependencies"
    # Disabled by its class or by the scheduler.
    DISABLED = "were disabled"
    # Pending because something it needs failed.
    UPSTREAM_FAILED = "are pending because a dependency failed"
    # Pending because something it needs is disabled.
    UPSTREAM_DISABLED = "are pending because a dependency is disabled"
    # Pending because an external dependency is missing.
    UPSTREAM_MISSING = "are pending because an external dependency is missing"
    # Pending for no failure: handed back on stop, or still running elsewhere.
    STILL_PENDING = "are still pending"


#: Luigi's [retcode] names, with the codes Luigi's documentation recommends
#: (Luigi itself defaults most to 0); upstream_failure is ours.
DEFAULT_RETCODES = {
    "already_running": 10,
    "missing_data": 20,
    "not_run": 25,
    "upstream_failure": 28,
    "task_failed": 30,
    "scheduling_error": 35,
    "unhandled_exception": 40,
}

_RETCODE_OF = {
    Outcome.MISSING_EXTERNAL: "missing_data",
    Outcome.UPSTREAM_MISSING: "missing_data",
    Outcome.STILL_PENDING: "not_run",
    Outcome.DISABLED: "not_run",
    Outcome.UPSTREAM_DISABLED: "not_run",
    Outcome.UPSTREAM_FAILED: "upstream_failure",
    Outcome.FAILED: "task_failed",
    Outcome.SCHEDULING_ERROR: "scheduling_error",
}

_UPSTREAM = {
    Outcome.FAILED: Outcome.UPSTREAM_FAILED,
    Outcome.SCHEDULING_ERROR: Outcome.UPSTREAM_FAILED,
    Outcome.UPSTREAM_FAILED: Outcome.UPSTREAM_FAILED,
    Outcome.DISABLED: Outcome.UPSTREAM_DISABLED,
    Outcome.UPSTREAM_DISABLED: Outcome.UPSTREAM_DISABLED,
    Outcome.MISSING_EXTERNAL: Outcome.UPSTREAM_MISSING,
    Outcome.UPSTREAM_MISSING: Outcome.UPSTREAM_MISSING,
}
_SEVERITY = [Outcome.UPSTREAM_MISSING, Outcome.UPSTREAM_FAILED, Outcome.UPSTREAM_DISABLED]


def retcodes() -> dict[str, int]:
    """The exit codes: defaults, then ``[retcode]`` of luigi.cfg, then PIPELINES_RETCODES."""
    from django.conf import settings

    from scheduler import luigi_config

    codes = dict(DEFAULT_RETCODES)
    sources = [luigi_config.section("retcode"), getattr(settings, "PIPELINES_RETCODES", {}) or {}]
    for source in sources:
        for name, value in source.items():
            key = luigi_config.normalise(name)
            if key in codes:
                codes[key] = int(value)
    return codes


@dataclass
class RunRecord:
    """What the worker itself saw while running."""

    completed: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)  # task_id -> one-line error
    disabled: set[str] = field(default_factory=set)


def classify(
    plan: Plan, record: RunRecord, is_complete_now: Callable[[list[str]], set[str]]
) -> dict[str, Outcome]:
    """The outcome of every task of the plan; ``is_complete_now(ids)`` says which of the
    tasks this worker did not run are complete by now."""
    outcomes: dict[str, Outcome] = {}
    unknown: list[str] = []
    for task_id in plan.order:
        initial = plan.initial[task_id]
        if task_id in record.completed:
            outcomes[task_id] = Outcome.COMPLETED
        elif initial is Initial.DONE:
            outcomes[task_id] = Outcome.ALREADY_DONE
        elif task_id in record.failed:
            outcomes[task_id] = Outcome.FAILED
        elif initial is Initial.ERROR:
            outcomes[task_id] = Outcome.SCHEDULING_ERROR
        elif initial is Initial.EXTERNAL:
            outcomes[task_id] = Outcome.MISSING_EXTERNAL
        elif initial is Initial.DISABLED or task_id in record.disabled:
            outcomes[task_id] = Outcome.DISABLED
        else:
            unknown.append(task_id)
    done_elsewhere = is_complete_now(unknown) if unknown else set()
    undecided = set(unknown)
    for task_id in plan.order:  # requirements come first
        if task_id not in undecided:
            continue
        if task_id in done_elsewhere:
            outcomes[task_id] = Outcome.DONE_ELSEWHERE
            continue
        labels = {
            _UPSTREAM.get(outcomes.get(dep, Outcome.STILL_PENDING))
            for dep in plan.deps.get(task_id, [])
        }
        worst = [label for label in _SEVERITY if label in labels]
        outcomes[task_id] = worst[-1] if worst else Outcome.STILL_PENDING
    return outcomes


def exit_code(outcomes: Iterable[Outcome], codes: dict[str, int], *extra: str) -> int:
    """The largest code among the categories present (0 when all went well)."""
    names = {_RETCODE_OF[o] for o in outcomes if o in _RETCODE_OF} | set(extra)
    return max((codes[name] for name in names), default=0)


def _describe(tasks: list[Task], limit: int) -> list[str]:
    if len(tasks) <= limit:
        return [f"    - {task!r}" for task in tasks]
    families: dict[str, list[Task]] = {}
    for task in tasks:
        families.setdefault(task.get_task_family(), []).append(task)
    lines = []
    for family, members in families.items():
        example = repr(members[0])
        more = f" and {len(members) - 1} more" if len(members) > 1 else ""
        lines.append(f"    - {len(members)} {family}: {example}{more}")
    return lines


def render(
    plan: Plan,
    outcomes: dict[str, Outcome],
    record: RunRecord,
    *,
    worker_id: str,
    seconds: float,
    code: int,
    notes: Iterable[str] = (),
    limit: int = 8,
) -> str:
    """A Luigi-style execution summary."""
    grouped: dict[Outcome, list[Task]] = {}
    for task_id in plan.order:
        grouped.setdefault(outcomes[task_id], []).append(plan.tasks[task_id])
    lines = ["", "===== runworker execution summary =====", ""]
    lines.append(f"Scheduled {len(plan.order)} tasks of which:")
    for outcome in Outcome:
        members = grouped.get(outcome)
        if not members:
            continue
        lines.append(f"* {len(members)} {outcome.value}:")
        lines.extend(_describe(members, limit))
        if outcome is Outcome.FAILED:
            for task in members[:limit]:
                lines.append(f"      {task.task_id}: {record.failed.get(task.task_id, '')}")
    lines.extend(f"* {note}" for note in notes)
    lines.append("")
    bad = {o for o in outcomes.values() if o in _RETCODE_OF}
    if code == 0 and not bad:
        lines.append("This run went well: no failed tasks and no missing dependencies.")
    else:
        worst = ", ".join(sorted(o.value for o in bad)) or "see above"
        lines.append(f"This run did not fully succeed (exit code {code}): tasks {worst}.")
    lines.append(f"Worker {worker_id}, {seconds:.1f} s")
    lines.append("")
    lines.append("===== end of summary =====")
    return "\n".join(lines)

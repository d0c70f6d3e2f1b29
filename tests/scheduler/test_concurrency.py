"""Many threads claiming work at once: a task is never handed to two workers."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from scheduler import rpc
from scheduler.models import Task
from scheduler.service import Ctx
from scheduler.service.invariants import violations

N_TASKS = 2000
N_THREADS = 8


def _register(n: int, parts: int = 4) -> None:
    """Register a DAG from several threads at once: every tenth task depends on the
    one before it, the rest are independent. One worker id may run all of them."""

    def register(part: int) -> None:
        try:
            for i in range(part, n, parts):
                deps = [f"T_{i - 1}"] if i % 10 == 9 else []
                rpc.call(
                    "add_task",
                    {
                        "task_id": f"T_{i}",
                        "worker": "shared",
                        "family": "T",
                        "deps": deps,
                        "params": {"i": str(i)},
                    },
                )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=register, args=(k,)) for k in range(parts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)


@pytest.mark.django_db(transaction=True)
def test_threads_hammering_get_work_never_share_a_task():
    _register(N_TASKS)
    assert Task.objects.count() == N_TASKS
    claimed: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def hammer(index: int) -> None:
        # Most threads share the registering worker's id (the plain claim path);
        # two are assistants (the resource-aware path).
        assistant = index >= N_THREADS - 2
        worker = f"assistant-{index}" if assistant else "shared"
        idle = 0
        try:
            while idle < 10:
                reply = rpc.call(
                    "get_work", {"worker": worker, "assistant": assistant, "current_tasks": None}
                )
                task_id = reply["task_id"]
                if task_id is None:
                    idle += 1
                    continue
                idle = 0
                with lock:
                    claimed.append(task_id)
                rpc.call(
                    "add_task",
                    {
                        "task_id": task_id,
                        "worker": worker,
                        "status": "DONE",
                        "assistant": assistant,
                    },
                )
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(N_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors
    duplicates = [task_id for task_id, n in Counter(claimed).items() if n > 1]
    assert duplicates == []
    assert len(claimed) == N_TASKS
    assert Task.objects.filter(status="DONE").count() == N_TASKS
    assert violations() == []
    assert connection.vendor in ("sqlite", "postgresql")


@pytest.mark.django_db(transaction=True)
def test_concurrent_registration_and_completion_keep_readiness_right():
    # One thread completes dependencies while others register dependants of them.
    for i in range(200):
        rpc.call("add_task", {"task_id": f"D_{i}", "worker": "w0", "family": "D"})
    errors: list[BaseException] = []

    def complete() -> None:
        try:
            for i in range(200):
                rpc.call("add_task", {"task_id": f"D_{i}", "worker": "w0", "status": "DONE"})
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def register(offset: int) -> None:
        try:
            for i in range(200):
                rpc.call(
                    "add_task",
                    {
                        "task_id": f"U_{offset}_{i}",
                        "worker": f"w{offset}",
                        "family": "U",
                        "deps": [f"D_{i}", f"D_{(i + 1) % 200}"],
                    },
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=complete)] + [
        threading.Thread(target=register, args=(k,)) for k in (1, 2, 3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors
    assert violations() == []
    assert Task.objects.filter(family="U", unmet_deps=0).count() == 600
    assert Ctx.make().config is not None


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_registering_one_dag_at_once_do_not_deadlock(caplog):
    # What several Luigi workers started on one pipeline do: each registers the
    # whole graph, root first, in the same order, at the same time. Each
    # registration moves two workers' counters; those rows are written last, so
    # a transaction holding them never waits for a task row (nor for a foreign
    # key check at commit), and PostgreSQL finds no deadlock to break.
    n_groups, per_group = 10, 30
    groups = [f"G_{g}" for g in range(n_groups)]
    plan = [("ROOT", groups)]
    for g in range(n_groups):
        leaves = [f"L_{g}_{i}" for i in range(per_group)]
        plan.append((groups[g], leaves))
        plan.extend((leaf, []) for leaf in leaves)
    errors: list[BaseException] = []

    def register(worker: str) -> None:
        try:
            for task_id, deps in plan:
                rpc.call(
                    "add_task",
                    {"task_id": task_id, "worker": worker, "family": "T", "deps": deps},
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    caplog.set_level("DEBUG", logger="scheduler")
    threads = [threading.Thread(target=register, args=(f"w{k}",)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors
    retried = [r.getMessage() for r in caplog.records if "retrying after" in r.getMessage()]
    assert not [m for m in retried if "deadlock" in m], retried[:3]
    assert Task.objects.count() == len(plan)
    assert violations() == []
    counts = rpc.call("count_pending", {"worker": "w0"})
    assert counts["n_pending_tasks"] == len(plan)
    assert counts["n_unique_pending"] == 0

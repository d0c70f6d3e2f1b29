"""runworker in direct database mode: real processes on the test database."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

from scheduler.models import Task as TaskRow
from tests.live.harness import wait_for
from tests.workers_runtime import pipelines
from tests.workers_runtime.conftest import run_ids

N_DAG = 200


def _dag_ids(root) -> set[str]:
    seen: dict[str, object] = {}
    stack = [pipelines.Node(root=str(root), idx=0, n=N_DAG)]
    while stack:
        task = stack.pop()
        if task.task_id not in seen:
            seen[task.task_id] = task
            stack.extend(task.requires())
    return set(seen)


def statuses(*task_ids: str) -> dict[str, str]:
    return dict(TaskRow.objects.filter(task_id__in=task_ids).values_list("task_id", "status"))


def test_three_workers_run_every_task_of_a_200_task_dag_exactly_once(workers, root):
    expected = _dag_ids(root)
    assert len(expected) == N_DAG
    args = ("Node", "--root", str(root), "--idx", "0", "--n", str(N_DAG), "--keep-alive")
    # A live worker must never look dead on a loaded machine (that would rerun its
    # tasks); a task that fails anyway is disabled after 3 failures, so the run ends.
    env = workers.env(SCHEDULER_WORKER_DISCONNECT_DELAY="30", SCHEDULER_RETRY_COUNT="3")
    started = [
        workers.start(*args, "--workers", "2", "--wait-interval", "0.2", env=env) for _ in range(3)
    ]
    codes = [worker.wait(180) for worker in started]
    details = "\n".join(w.stdout + w.stderr[-2000:] for w in started)
    assert codes == [0, 0, 0], details
    ran = run_ids(root)
    assert set(ran) == expected  # every task ran; a second run would have failed (O_EXCL)
    assert len(ran) == N_DAG
    # The summaries add up: each task ran successfully in exactly one worker's summary.
    completed = [w.count("ran successfully") for w in started]
    assert sum(completed) == N_DAG, details
    for worker in started:
        total = (
            worker.count("ran successfully")
            + worker.count("were completed by other workers")
            + worker.count("were already complete")
        )
        assert total == N_DAG, worker.stdout
        assert worker.count("failed") == 0
    pids = Counter(path.read_text().strip() for path in (root / "runs").iterdir())
    assert len(pids) >= 3, pids  # the work was shared between child processes
    assert set(statuses(*expected).values()) == {"DONE"}


def test_a_failing_task_leaves_its_dependents_pending(workers, root):
    worker = workers.run("FailureRoot", "--root", str(root))
    assert worker.process.returncode == 30, worker.stdout + worker.stderr  # task_failed
    assert worker.count("failed") == 1
    assert worker.count("are pending because a dependency failed") == 2  # AfterFailing, root
    assert worker.count("ran successfully") == 1  # Ok
    assert "ValueError: this task always fails" in worker.stdout
    failing = pipelines.Failing(root=str(root))
    after = pipelines.AfterFailing(root=str(root))
    assert statuses(failing.task_id, after.task_id) == {
        failing.task_id: "FAILED",
        after.task_id: "PENDING",
    }
    row = TaskRow.objects.get(task_id=failing.task_id)
    assert row.expl.startswith('"Runtime error:\\nTraceback')  # JSON-encoded, as Luigi sends it


def test_missing_external_is_reported_and_dependents_wait(workers, root):
    worker = workers.run("NeedsMissing", "--root", str(root))
    assert worker.process.returncode == 20, worker.stdout  # missing_data
    assert worker.count("are missing external dependencies") == 1
    assert worker.count("are pending because an external dependency is missing") == 1
    assert run_ids(root) == []


def test_dynamic_dependencies_are_scheduled_and_run(workers, root):
    worker = workers.run("Dynamic", "--root", str(root), "--workers", "2")
    assert worker.process.returncode == 0, worker.stdout + worker.stderr
    dynamic = pipelines.Dynamic(root=str(root))
    leaves = [pipelines.Leaf(root=str(root), idx=i) for i in range(3)]
    assert set(run_ids(root)) == {dynamic.task_id, *(leaf.task_id for leaf in leaves)}
    assert set(statuses(dynamic.task_id, *(leaf.task_id for leaf in leaves)).values()) == {"DONE"}


def test_a_crashed_child_is_a_failed_task_not_a_hung_worker(workers, root):
    worker = workers.run("Crash", "--root", str(root), timeout=60)
    assert worker.process.returncode == 30, worker.stdout + worker.stderr
    assert "child process running the task died (exit code 3)" in worker.stdout
    task = pipelines.Crash(root=str(root))
    assert statuses(task.task_id) == {task.task_id: "FAILED"}


def test_timeout_kills_the_task(workers, root):
    worker = workers.run("Long", "--root", str(root), "--timeout", "1", timeout=60)
    assert worker.process.returncode == 30, worker.stdout + worker.stderr
    assert "timed out after 1 s" in worker.stdout


def test_second_run_finds_everything_done(workers, root):
    assert workers.run("Ok", "--root", str(root)).process.returncode == 0
    again = workers.run("Ok", "--root", str(root))
    assert again.process.returncode == 0
    assert again.count("were already complete") == 1


def test_kill_9_of_a_worker_mid_task_another_worker_finishes(workers, root):
    first = workers.start("LongRoot", "--root", str(root))
    attempt_pid = wait_for(
        lambda: (
            (root / "attempts" / "1.pid").exists() and (root / "attempts" / "1.pid").read_text()
        ),
        30,
        "the long task to start",
    )
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)
    # The task's child process dies with its worker (no orphan keeps running it).
    wait_for(lambda: not _alive(int(attempt_pid)), 10, "the orphaned child to die")
    second = workers.start(
        "LongRoot", "--root", str(root), "--keep-alive", "--wait-interval", "0.2"
    )
    assert second.wait(90) == 0, second.stdout + second.stderr
    long_task = pipelines.Long(root=str(root))
    assert (root / "out" / long_task.task_id).read_text() == "attempt 2\n"
    assert second.count("ran successfully") == 2


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (not reaped yet) is dead too
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[1][0] != "Z"


def test_sigterm_hands_running_tasks_back_and_the_lock_holds(workers, root):
    args = ("LongRoot", "--root", str(root), "--grace-period", "1", "--lock")
    first = workers.start(*args)
    wait_for(lambda: (root / "attempts" / "1.pid").exists(), 30, "the long task to start")
    duplicate = workers.run(*args, timeout=30)
    assert duplicate.process.returncode == 10, duplicate.stderr  # already_running
    assert "already running" in duplicate.stderr
    started = time.monotonic()
    first.process.send_signal(signal.SIGTERM)
    code = first.wait(30)
    assert time.monotonic() - started < 15
    assert code == 25, first.stdout + first.stderr  # not_run: handed back, still pending
    assert "handed back" in first.stdout
    long_task = pipelines.Long(root=str(root))
    assert statuses(long_task.task_id) == {long_task.task_id: "PENDING"}

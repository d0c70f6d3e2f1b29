"""Worker faults: a runworker killed mid-task, and tasks that hang, exhaust memory
or end their own process. Direct database mode, real processes."""

from __future__ import annotations

import json
import time

from scheduler.models import StatusEvent
from scheduler.models import Task as TaskRow
from scheduler.service.invariants import violations
from tests.live.harness import wait_for
from tests.reliability import journal, pipelines
from tests.workers_runtime.test_direct import _alive

DELAY = 3.0  # worker_disconnect_delay of these workers (they are the scheduler)


def test_kill_9_of_a_runworker_mid_task_another_worker_completes_the_pipeline(workers, root):
    env = workers.env(SCHEDULER_WORKER_DISCONNECT_DELAY=str(DELAY))
    args = ("RelNode", "--root", str(root), "--idx", "0", "--n", "4", "--ms", "1500")
    first = workers.start(*args, "--ping-interval", "0.3", env=env)
    started = wait_for(lambda: journal.runs(root), 60, "the first task to start")
    [(victim, [run])] = started.items()
    first.process.kill()
    first.process.wait(10)
    killed_at = time.time()
    # Its child process dies with it (no orphan goes on running the task).
    wait_for(lambda: not _alive(run.pid), 10, "the orphaned child to die")
    dead_at = time.time()
    assert TaskRow.objects.get(task_id=victim).status == "RUNNING"  # until the delay passes

    second = workers.start(*args, "--keep-alive", "--wait-interval", "0.2", env=env)
    assert second.wait(90) == 0, second.stdout + second.stderr

    runs = journal.runs(root, deaths={run.pid: dead_at})
    assert journal.overlaps(runs) == []
    rerun = runs[victim][1]
    assert rerun.pid != run.pid
    # Handed out again only once the dead worker was silent for worker_disconnect_delay.
    assert rerun.start >= killed_at + DELAY - 1.0, rerun.start - killed_at
    history = list(
        StatusEvent.objects.filter(task_id=victim).order_by("id").values_list("new_status", "cause")
    )
    assert history[-5:] == [
        ("RUNNING", "get_work"),
        ("FAILED", "worker disconnected"),
        ("PENDING", "retry_delay passed"),
        ("RUNNING", "get_work"),
        ("DONE", "add_task"),
    ], history
    assert set(TaskRow.objects.values_list("status", flat=True)) == {"DONE"}
    assert len(runs) == 4 and journal.duplicates(runs) == {victim: 2}
    assert violations() == []


def test_hang_memory_exhaustion_and_os_exit_fail_clearly_and_the_worker_goes_on(workers, root):
    worker = workers.run("Faults", "--root", str(root), "--workers", "1", timeout=90)
    assert worker.process.returncode == 30, worker.stdout + worker.stderr  # task_failed

    def expl(task) -> str:
        return json.loads(TaskRow.objects.get(task_id=task.task_id).expl)

    def status(task) -> str:
        return TaskRow.objects.get(task_id=task.task_id).status

    hang, hog, exits = (
        cls(root=str(root)) for cls in (pipelines.Hang, pipelines.Hog, pipelines.Exits)
    )
    assert {status(t) for t in (hang, hog, exits)} == {"FAILED"}
    assert "timed out after 1 s; the child process was killed" in expl(hang)
    assert "MemoryError" in expl(hog)
    assert "the child process running the task died (exit code 7)" in expl(exits)

    healthy = [pipelines.Healthy(root=str(root), idx=i) for i in range(3)]
    assert {status(t) for t in healthy} == {"DONE"}
    runs = journal.runs(root)
    last_fault = max(runs[t.task_id][0].start for t in (hang, hog, exits))
    # The faults ran first (priority), and the same worker served the rest after them.
    assert all(runs[t.task_id][0].start > last_fault for t in healthy)
    assert worker.count("ran successfully") == 3
    assert worker.count("failed") == 3
    assert violations() == []

"""Eight worker processes racing on one 2,000-task DAG: four ``runworker`` in
direct database mode registering it concurrently, and four Luigi CLI workers in
assistant mode over HTTP, which claim any runnable task without registering the
DAG themselves (Luigi's way to add hands to other workers' pipelines; a Luigi
worker registering 2,000 tasks one call at a time would spend most of the run
doing that). All eight claim from the same pool at once.

Every task must run exactly once.
"""

from __future__ import annotations

import time

from scheduler.models import Task as TaskRow
from scheduler.service.invariants import violations
from tests.live.harness import wait_for
from tests.reliability import journal
from tests.reliability.conftest import LUIGI_MODULE

N = 2000
OPTIONS = {"worker_disconnect_delay": 60, "retry_count": 1}


def test_eight_mixed_workers_run_each_task_of_a_2000_task_dag_exactly_once(
    live_servers, workers, luigi_workers, root
):
    server = live_servers.get(**OPTIONS)
    env = workers.env(**{f"SCHEDULER_{k.upper()}": str(v) for k, v in OPTIONS.items()})
    began = time.monotonic()
    assistants = [
        luigi_workers.start(server, "Idle", "--assistant", keep_alive=True, module=LUIGI_MODULE)
        for _ in range(4)
    ]
    args = ("--root", str(root), "--idx", "0", "--n", str(N), "--ms", "2")
    ours = [
        workers.start("RelNode", *args, "--keep-alive", "--wait-interval", "0.2", env=env)
        for _ in range(4)
    ]
    codes = [w.wait(170) for w in ours]
    assert codes == [0] * 4, "\n".join(w.stderr[-1500:] for w in ours)
    dag = TaskRow.objects.filter(family="RelNode")
    wait_for(lambda: dag.filter(status="DONE").count() == N, 30, "every task DONE", poll=0.2)
    elapsed = time.monotonic() - began
    luigi_pids = {w.pid for w in assistants}
    assert all(w.process.poll() is None for w in assistants)  # assistants serve until stopped
    luigi_workers.stop_all()

    runs = journal.runs(root)
    assert journal.duplicates(runs) == {}
    assert journal.overlaps(runs) == []
    assert len(runs) == N
    assert dag.count() == N
    # Both kinds of worker did part of the work, every process some of it.
    by_pid = {run.pid for task_runs in runs.values() for run in task_runs}
    assert by_pid >= luigi_pids, "some Luigi worker ran no task"
    assert len(by_pid - luigi_pids) >= 4, "some runworker ran no task"
    assert violations() == []
    print(f"2,000 tasks, 8 workers: {elapsed:.1f} s, 0 duplicate runs")

"""Eight worker processes racing on one 2,000-task DAG: two ``runworker`` in
direct database mode registering it concurrently, two more in assistant mode,
and four Luigi CLI workers in assistant mode over HTTP. Assistants claim any
runnable task without registering the DAG themselves (Luigi's way to add hands
to other workers' pipelines; registering 2,000 tasks per worker would take most
of the time budget). All eight claim from the same pool at once.

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
    poll = ("--keep-alive", "--wait-interval", "0.2")
    helpers = [workers.start("Idle", "--assistant", *poll, env=env) for _ in range(2)]
    args = ("--root", str(root), "--idx", "0", "--n", str(N))
    owners = [workers.start("RelNode", *args, *poll, env=env) for _ in range(2)]
    codes = [w.wait(170) for w in owners]
    assert codes == [0, 0], "\n".join(w.stderr[-1500:] for w in owners)
    dag = TaskRow.objects.filter(family="RelNode")
    wait_for(lambda: dag.filter(status="DONE").count() == N, 30, "every task DONE", poll=0.2)
    elapsed = time.monotonic() - began
    luigi_pids = {w.pid for w in assistants}
    # Assistants serve until stopped.
    running = [w.process for w in assistants] + [h.process for h in helpers]
    assert all(process.poll() is None for process in running)
    luigi_workers.stop_all()
    workers.stop_all()

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

"""Eight worker processes racing on one 2,000-task DAG: four ``runworker`` in
direct database mode and four Luigi CLI workers over HTTP, all at once.

Every task must run exactly once. Luigi re-opens a DONE task when a worker that
found it incomplete earlier registers it as PENDING later, unless it finished
less than ``stable_done_cooldown_secs`` ago; registering 2,000 tasks over HTTP
takes longer than Luigi's 10 s default, so the scheduler (the server and the
direct-mode workers) runs with a longer cooldown, as a Luigi site with big DAGs
would configure it.
"""

from __future__ import annotations

import time

from scheduler.models import Task as TaskRow
from scheduler.service.invariants import violations
from tests.live.harness import wait_for
from tests.reliability import journal
from tests.reliability.conftest import LUIGI_MODULE

N = 2000
LUIGI_WORKERS = 2
OPTIONS = {"worker_disconnect_delay": 60, "stable_done_cooldown_secs": 3600, "retry_count": 1}


def test_eight_mixed_workers_run_each_task_of_a_2000_task_dag_exactly_once(
    live_servers, workers, luigi_workers, root
):
    server = live_servers.get(**OPTIONS)
    env = workers.env(**{f"SCHEDULER_{k.upper()}": str(v) for k, v in OPTIONS.items()})
    args = ("--root", str(root), "--idx", "0", "--n", str(N), "--ms", "2")
    began = time.monotonic()
    started_luigi = [
        luigi_workers.start(server, "RelNode", *args, keep_alive=True, module=LUIGI_MODULE)
        for _ in range(LUIGI_WORKERS)
    ]
    # The runworkers register in bulk in a second; start them once a Luigi worker
    # has registered the whole DAG and begun running it, so that all eight race.
    wait_for(
        lambda: TaskRow.objects.filter(status__in=["RUNNING", "DONE"]).exists(),
        120,
        "a Luigi worker to register the DAG and start running it",
        poll=0.2,
    )
    started_ours = [
        workers.start("RelNode", *args, "--keep-alive", "--wait-interval", "0.2", env=env)
        for _ in range(8 - LUIGI_WORKERS)
    ]
    print(f"registered by Luigi in {time.monotonic() - began:.1f} s")
    codes = [w.wait(170) for w in started_luigi] + [w.wait(170) for w in started_ours]
    logs = "\n".join(
        [w.output()[-1500:] for w in started_luigi] + [w.stderr[-1500:] for w in started_ours]
    )
    assert codes == [0] * 8, logs
    print(f"all done in {time.monotonic() - began:.1f} s")

    runs = journal.runs(root)
    assert journal.duplicates(runs) == {}
    assert journal.overlaps(runs) == []
    assert len(runs) == N
    assert TaskRow.objects.filter(status="DONE").count() == N
    assert TaskRow.objects.count() == N
    # Both kinds of worker did part of the work.
    ours = {w.process.pid for w in started_ours}
    luigi_pids = {w.pid for w in started_luigi}
    by = {run.pid for task_runs in runs.values() for run in task_runs}
    assert len(by & luigi_pids) == LUIGI_WORKERS, "some Luigi worker ran no task"
    assert len(by - luigi_pids) >= 8 - LUIGI_WORKERS, f"some runworker ran no task ({ours})"
    assert violations() == []

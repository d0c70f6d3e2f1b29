"""kill -9 of the scheduler server in the middle of a pipeline run by Luigi
workers over HTTP; a new server on the same port and database takes over."""

from __future__ import annotations

import time

import requests

from scheduler.models import StatusEvent
from scheduler.service.invariants import violations
from tests.live.harness import wait_for
from tests.reliability import journal
from tests.reliability.conftest import LUIGI_MODULE

N = 24


def test_scheduler_killed_mid_run_restarts_and_the_pipeline_completes(
    scheduler_process, luigi_workers, root
):
    # Workers must not look dead while the server is away (a few seconds).
    scheduler_process.env["SCHEDULER_WORKER_DISCONNECT_DELAY"] = "20"
    server = scheduler_process.start()
    args = ("--root", str(root), "--idx", "0", "--n", str(N), "--ms", "300")
    started = [
        luigi_workers.start(server, "RelNode", *args, keep_alive=True, module=LUIGI_MODULE)
        for _ in range(3)
    ]
    before: dict = {}

    def going() -> bool:
        # Killed while tasks run: a snapshot with some done and some running (between
        # two tasks every worker may be reporting or asking, none running).
        nonlocal before
        before = server.task_list()
        statuses = [t["status"] for t in before.values()]
        return statuses.count("DONE") >= 4 and "RUNNING" in statuses

    wait_for(going, 90, "the pipeline to get going", poll=0.05)
    scheduler_process.kill()
    killed_at = time.time()
    assert before and {"DONE", "RUNNING"} <= {t["status"] for t in before.values()}
    time.sleep(1.0)  # workers meet a dead server (connection refused) and retry
    server = scheduler_process.start()
    restarted_at = time.time()

    codes = [w.wait(120) for w in started]
    assert codes == [0, 0, 0], "\n".join(w.output()[-2000:] for w in started)

    after = server.task_list(status="DONE")
    assert len(after) == N
    # Everything known before the crash is still there; nothing done went back.
    assert set(before) <= set(after)
    done_before = {task_id for task_id, task in before.items() if task["status"] == "DONE"}
    left_done = StatusEvent.objects.filter(task_id__in=done_before, old_status="DONE")
    assert list(left_done.values_list("task_id", "new_status")) == []
    # No task ran twice (at once or at all): live workers kept their tasks.
    runs = journal.runs(root)
    assert journal.overlaps(runs) == []
    assert journal.duplicates(runs) == {}
    assert len(runs) == N
    # Some work happened while the server was away or right after it came back.
    assert any(r.end > killed_at for rs in runs.values() for r in rs)
    assert restarted_at - killed_at < 20
    assert requests.get(server.api_url("is_paused"), timeout=5).status_code == 200
    assert violations() == []

"""Real Luigi workers (luigi.build in-process and the ``luigi`` CLI) against a live scheduler."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import luigi
from luigi.execution_summary import LuigiStatusCode
from luigi.task import flatten

from tests.live import pipelines
from tests.live.harness import LiveServer, wait_for


def all_ids(task: luigi.Task) -> set[str]:
    """Ids of ``task`` and everything it requires, transitively."""
    seen: dict[str, luigi.Task] = {}
    stack = [task]
    while stack:
        current = stack.pop()
        if current.task_id not in seen:
            seen[current.task_id] = current
            stack.extend(flatten(current.requires()))
    return set(seen)


def runs(root: Path) -> dict[str, dict]:
    directory = root / "runs"
    if not directory.is_dir():
        return {}
    return {path.name: json.loads(path.read_text()) for path in directory.iterdir()}


def attempts(root: Path, task: luigi.Task) -> list[Path]:
    directory = root / "attempts"
    if not directory.is_dir():
        return []
    found = directory.glob(f"{task.task_id}.*")
    return sorted(found, key=lambda path: int(path.suffix[1:]))


def order(root: Path) -> list[str]:
    return (root / "order.log").read_text().split()


def statuses(server: LiveServer, root: Path) -> dict[str, str]:
    return {task_id: task["status"] for task_id, task in server.tasks_under(root).items()}


def test_build_runs_a_chain_in_dependency_order(live_scheduler, run_build, tmp_path):
    server = live_scheduler()
    root = str(tmp_path)
    top = pipelines.Load(root=root)
    chain = [pipelines.Extract(root=root).task_id, pipelines.Transform(root=root).task_id]
    chain.append(top.task_id)

    result = run_build(server, [top])

    assert result.status == LuigiStatusCode.SUCCESS, result.summary_text
    assert order(tmp_path) == chain
    assert statuses(server, tmp_path) == dict.fromkeys(chain, "DONE")
    graph = server.call("dep_graph", task_id=top.task_id)
    assert graph[top.task_id]["deps"] == [chain[1]]
    assert graph[chain[1]]["deps"] == [chain[0]]
    assert graph[chain[0]]["deps"] == []
    running = {task["worker_running"] for task in server.tasks_under(tmp_path).values()}
    assert len(running) == 1
    assert str(os.getpid()) in running.pop()


def test_cli_runs_a_pipeline_and_a_rerun_does_nothing(live_scheduler, luigi_cli, tmp_path):
    server = live_scheduler()
    args = ("--root", str(tmp_path))

    first = luigi_cli.start(server, "Load", *args)
    assert first.wait(60) == 0, first.output()
    assert "This progress looks :)" in first.output()
    assert len(runs(tmp_path)) == 3

    # Everything is complete now: the worker reports DONE and runs nothing (a second
    # run would fail on its exclusive run marker).
    second = luigi_cli.start(server, "Load", *args)
    assert second.wait(60) == 0, second.output()
    assert "1 complete ones were encountered" in second.output(), second.output()
    assert len(runs(tmp_path)) == 3
    assert set(statuses(server, tmp_path).values()) == {"DONE"}


def test_several_worker_processes_run_each_task_exactly_once(live_scheduler, luigi_cli, tmp_path):
    server = live_scheduler()
    top = pipelines.Grid(root=str(tmp_path))
    expected = all_ids(top)
    assert len(expected) == 61

    processes = [
        luigi_cli.start(server, "Grid", "--root", str(tmp_path), workers=2, keep_alive=True)
        for _ in range(3)
    ]
    for process in processes:
        try:
            assert process.wait(90) == 0, process.output()
        except BaseException:
            counts = Counter(statuses(server, tmp_path).values())
            print(f"task statuses: {dict(counts)}")
            print(json.dumps(server.call("worker_list"), indent=1)[:4000])
            raise

    done = runs(tmp_path)
    assert set(done) == expected  # one exclusive-create marker per task, no more
    tasks = server.tasks_under(tmp_path)
    assert set(tasks) == expected
    assert {task["status"] for task in tasks.values()} == {"DONE"}
    # The work was shared: more than one of the three CLI workers ran tasks.
    runners = {task["worker_running"] for task in tasks.values()}
    assert len(runners) >= 2, runners
    pids = {f"pid={process.pid})" for process in processes}
    assert all(any(runner.endswith(pid) for pid in pids) for runner in runners), runners


def test_failure_keeps_dependants_pending_and_stores_the_traceback(
    live_scheduler, run_build, tmp_path
):
    server = live_scheduler()
    root = str(tmp_path)
    top = pipelines.FailTop(root=root)
    failing = pipelines.Fails(root=root)
    middle = pipelines.AfterFail(root=root)

    result = run_build(server, [top])

    assert result.status == LuigiStatusCode.FAILED, result.summary_text
    assert len(attempts(tmp_path, failing)) == 1
    assert runs(tmp_path) == {}
    assert statuses(server, tmp_path) == {
        failing.task_id: "FAILED",
        middle.task_id: "PENDING",
        top.task_id: "PENDING",
    }
    blocked = server.task_list("PENDING", upstream_status="UPSTREAM_FAILED")
    assert {middle.task_id, top.task_id} <= set(blocked)

    error = server.call("fetch_error", task_id=failing.task_id)
    assert error["taskId"] == failing.task_id
    assert error["taskFamily"] == "Fails"
    assert error["taskModule"] == "tests.live.pipelines"
    assert error["taskParams"] == {"root": root}
    traceback = json.loads(error["error"])  # workers send expl JSON-encoded
    assert "Traceback (most recent call last)" in traceback
    assert f"RuntimeError: boom from {failing.task_id}" in traceback


def test_failed_task_is_retried_after_retry_delay(live_scheduler, run_build, tmp_path):
    server = live_scheduler(retry_delay=1)
    task = pipelines.FlakyOnce(root=str(tmp_path))

    result = run_build(server, [task], keep_alive=True)

    assert result.status == LuigiStatusCode.SUCCESS_WITH_RETRY, result.summary_text
    first, second = attempts(tmp_path, task)
    assert second.stat().st_mtime - first.stat().st_mtime >= 0.9  # not before retry_delay
    assert statuses(server, tmp_path) == {task.task_id: "DONE"}


def test_too_many_failures_disable_until_re_enabled(live_scheduler, run_build, tmp_path):
    server = live_scheduler(retry_delay=1)
    task = pipelines.FailsUntilAllowed(root=str(tmp_path))

    # retry_count = 2 on the class: the second failure disables the task, and a
    # keep-alive worker gives up on it instead of waiting forever.
    result = run_build(server, [task], keep_alive=True)
    assert result.status == LuigiStatusCode.FAILED, result.summary_text
    assert len(attempts(tmp_path, task)) == 2
    disabled = server.task_list("DISABLED")
    assert disabled[task.task_id]["re_enable_able"] is True

    # Disabled by the scheduler: a later retry_delay and a new worker change nothing.
    time.sleep(1.5)
    run_build(server, [task])
    assert len(attempts(tmp_path, task)) == 2
    assert statuses(server, tmp_path) == {task.task_id: "DISABLED"}

    (tmp_path / "allow").touch()
    enabled = server.call("re_enable_task", task_id=task.task_id)
    assert enabled["status"] == "FAILED"
    assert enabled["deps"] == []
    assert server.call("re_enable_task", task_id=task.task_id) == {}  # no longer disabled

    result = run_build(server, [task], keep_alive=True)
    assert result.status in (LuigiStatusCode.SUCCESS, LuigiStatusCode.SUCCESS_WITH_RETRY)
    assert len(attempts(tmp_path, task)) == 3
    assert statuses(server, tmp_path) == {task.task_id: "DONE"}


def _spans(root: Path) -> list[tuple[float, float]]:
    lines = (root / "spans.log").read_text().splitlines()
    return sorted((record["start"], record["end"]) for record in map(json.loads, lines))


def test_resource_limit_keeps_tasks_apart(live_scheduler, luigi_cli, tmp_path):
    server = live_scheduler(resources={"solo": 1, "duo": 2})
    solo, duo = tmp_path / "solo", tmp_path / "duo"
    for root, resource in ((solo, "solo"), (duo, "duo")):
        root.mkdir()
        process = luigi_cli.start(
            server, "ResourcePair", "--root", str(root), "--resource", resource, workers=2
        )
        assert process.wait(60) == 0, process.output()
        assert set(statuses(server, root).values()) == {"DONE"}

    (_, first_end), (second_start, _) = _spans(solo)
    assert second_start >= first_end, "two tasks held the solo resource at once"
    # Control: the same pair with capacity 2 does overlap under the same worker.
    (_, first_end), (second_start, _) = _spans(duo)
    assert second_start < first_end, "capacity 2 should let both run together"

    exclusive = pipelines.Exclusive(root=str(solo), label="a", resource="solo")
    task = server.tasks_under(solo)[exclusive.task_id]
    assert task["resources"] == {"solo": 1}
    listed = {item["name"]: item for item in server.call("resource_list")}
    assert listed["solo"]["num_total"] == 1
    assert listed["duo"]["num_total"] == 2
    assert listed["solo"]["num_used"] == 0


def test_priorities_order_the_work(live_scheduler, run_build, tmp_path):
    server = live_scheduler()
    root = str(tmp_path)
    top = pipelines.PriorityTop(root=root)
    by_priority = [
        pipelines.Prioritized(root=root, level=level).task_id
        for level in sorted(pipelines.PRIORITIES, reverse=True)
    ]

    result = run_build(server, [top])

    assert result.status == LuigiStatusCode.SUCCESS, result.summary_text
    assert order(tmp_path) == [*by_priority, top.task_id]


def test_silent_worker_loses_its_running_task(live_scheduler, luigi_cli, tmp_path):
    delay = 3
    server = live_scheduler(retry_delay=1, worker_disconnect_delay=delay)
    args = ("--root", str(tmp_path))
    sleepy = pipelines.Sleepy(root=str(tmp_path))

    doomed = luigi_cli.start(server, "SleepyTop", *args)
    first_attempt = tmp_path / "first_attempt"
    wait_for(first_attempt.exists, 60, "the first worker never started Sleepy")
    assert int(first_attempt.read_text()) == doomed.pid  # --workers 1 runs tasks in-process

    rescuer = luigi_cli.start(server, "SleepyTop", *args, keep_alive=True)

    def rescuer_registered() -> bool:
        task = server.tasks_under(tmp_path).get(sleepy.task_id, {})
        return len(task.get("workers", [])) == 2

    wait_for(rescuer_registered, 60, "the second worker never registered Sleepy")
    assert statuses(server, tmp_path)[sleepy.task_id] == "RUNNING"

    os.kill(doomed.pid, signal.SIGKILL)
    killed_at = time.time()
    assert doomed.wait(10) == -signal.SIGKILL

    assert rescuer.wait(90) == 0, rescuer.output()
    rerun = runs(tmp_path)[sleepy.task_id]
    assert rerun["pid"] == rescuer.pid
    # Not taken away before the worker had been silent for worker_disconnect_delay.
    assert rerun["start"] - killed_at >= delay - 0.5
    tasks = server.tasks_under(tmp_path)
    assert {task["status"] for task in tasks.values()} == {"DONE"}
    assert f"pid={rescuer.pid}" in tasks[sleepy.task_id]["worker_running"]

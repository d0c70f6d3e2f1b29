"""runworker --scheduler-url: Luigi's HTTP protocol, against our server and a real luigid."""

from __future__ import annotations

from tests.live.harness import LiveServer, free_port, write_config
from tests.workers_runtime import pipelines
from tests.workers_runtime.conftest import run_ids


def _expected(root) -> set[str]:
    top = pipelines.Everything(root=str(root))
    seen = {top.task_id}
    stack = list(top.requires())
    while stack:
        task = stack.pop()
        if task.task_id not in seen:
            seen.add(task.task_id)
            stack.extend(task.requires())
    seen |= {pipelines.Leaf(root=str(root), idx=i).task_id for i in range(3)}
    return seen


def _run_against(server: LiveServer, workers, root) -> None:
    worker = workers.run(
        "Everything", "--root", str(root), "--workers", "2", "--scheduler-url", server.url
    )
    assert worker.process.returncode == 0, worker.stdout + worker.stderr
    expected = _expected(root)
    assert set(run_ids(root)) == expected - {pipelines.Everything(root=str(root)).task_id}
    assert worker.count("ran successfully") == len(expected)
    done = server.task_list("DONE")
    assert expected <= set(done), sorted(expected - set(done))
    # Our worker's registration is what a Luigi worker sends: family, module, params.
    dynamic = done[pipelines.Dynamic(root=str(root)).task_id]
    assert dynamic["name"] == "Dynamic"
    assert dynamic["params"] == {"root": str(root)}


def test_runworker_over_http_against_our_server(our_server, workers, root):
    _run_against(our_server, workers, root)


def test_runworker_over_http_against_luigid(luigid, workers, root):
    _run_against(luigid, workers, root)


def test_failure_over_http_reports_the_traceback(our_server, workers, root):
    worker = workers.run("FailureRoot", "--root", str(root), "--scheduler-url", our_server.url)
    assert worker.process.returncode == 30
    failing = pipelines.Failing(root=str(root)).task_id
    error = our_server.call("fetch_error", task_id=failing)
    assert "ValueError: this task always fails" in error["error"]


def test_unreachable_scheduler_is_one_error_and_a_nonzero_exit(workers, root, tmp_path):
    config = write_config(tmp_path / "luigi.cfg", {"core": {"rpc_retry_attempts": "2"}})
    url = f"http://127.0.0.1:{free_port()}/"
    worker = workers.run(
        "Ok",
        "--root",
        str(root),
        "--scheduler-url",
        url,
        env=workers.env(LUIGI_CONFIG_PATH=str(config)),
    )
    assert worker.process.returncode == 40, worker.stdout + worker.stderr  # unhandled_exception
    assert "cannot reach the scheduler" in worker.stdout

"""Authentication against a real ``runscheduler`` (the ASGI fast path of /api/),
with a real Luigi worker and our runworker as clients."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scheduler.auth.tokens import create_token
from tests.auth.server import Scheduler, runscheduler
from tests.live.harness import ROOT, _clean_env, database_url, free_port

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(
    django_db_setup: None, django_db_blocker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scheduler]:
    with (
        django_db_blocker.unblock(),
        runscheduler(
            tmp_path_factory.mktemp("auth-live"),
            SCHEDULER_AUTH="true",
            SCHEDULER_ANONYMOUS_READ="false",
            CORS_ALLOWED_ORIGINS="http://dash.example",
            DATA_UPLOAD_MAX_MEMORY_SIZE="100000",
        ) as scheduler,
    ):
        yield scheduler


def post(server: Scheduler, method: str, arguments: dict, **headers: str) -> requests.Response:
    return requests.post(
        f"{server.url}api/{method}",
        data={"data": json.dumps(arguments)},
        headers=headers,
        timeout=10,
    )


def test_fast_path_roles_and_revocation(server: Scheduler):
    worker = create_token("box", "worker")
    viewer = create_token("dash", "viewer")
    assert post(server, "task_list", {}).status_code == 401
    reply = post(server, "ping", {"worker": "w"})
    assert reply.status_code == 401 and reply.headers["WWW-Authenticate"].startswith("Basic")
    assert post(server, "task_list", {}, Authorization=f"Bearer {viewer.secret}").status_code == 200
    denied = post(server, "ping", {"worker": "w"}, Authorization=f"Bearer {viewer.secret}")
    assert denied.status_code == 403 and "worker role" in denied.json()["detail"]
    ok = requests.post(
        f"{server.url}api/ping",
        data={"data": '{"worker": "w"}'},
        auth=("box", worker.secret),
        timeout=10,
    )
    assert ok.status_code == 200
    from scheduler.auth.tokens import revoke

    revoke(worker.token)  # in this process; the server caches nothing
    again = requests.post(
        f"{server.url}api/ping",
        data={"data": '{"worker": "w"}'},
        auth=("box", worker.secret),
        timeout=10,
    )
    assert again.status_code == 401


def test_fast_path_413_and_cors(server: Scheduler):
    worker = create_token("box", "worker")
    big = {"worker": "w", "info": {"blob": "x" * 200_000}}
    reply = post(server, "add_worker", big, Authorization=f"Bearer {worker.secret}")
    assert reply.status_code == 413 and "100000 bytes" in reply.json()["detail"]
    preflight = requests.options(
        f"{server.url}api/task_list",
        headers={"Origin": "http://dash.example", "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert preflight.headers.get("Access-Control-Allow-Origin") == "http://dash.example"
    other = requests.options(
        f"{server.url}api/task_list",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert "Access-Control-Allow-Origin" not in other.headers
    viewer = create_token("dash", "viewer")
    cross = requests.get(
        f"{server.url}api/task_list",
        headers={"Origin": "http://dash.example", "Authorization": f"Bearer {viewer.secret}"},
        timeout=10,
    )
    assert cross.status_code == 200
    assert cross.headers["Access-Control-Allow-Origin"] == "http://dash.example"


def test_luigi_worker_with_the_token_in_scheduler_url(server: Scheduler, tmp_path: Path):
    import luigi

    from tests.live.harness import luigi_config, worker_scheduler_factory
    from tests.live.pipelines import Extract

    secret = create_token("luigi box", "worker").secret
    url = server.url.replace("http://", f"http://luigi:{secret}@")
    with luigi_config({"worker": {"keep_alive": "false"}}):
        result = luigi.build(
            [Extract(root=str(tmp_path))],
            worker_scheduler_factory=worker_scheduler_factory(),
            scheduler_url=url,
            detailed_summary=True,
        )
    assert result.status.name == "SUCCESS", result.summary_text
    done = post(server, "task_list", {"status": "DONE"}, Authorization=f"Bearer {secret}")
    assert [t["name"] for t in done.json()["response"].values()] == ["Extract"]


def test_runworker_sends_its_token_from_the_environment(server: Scheduler, tmp_path: Path):
    command = [
        sys.executable,
        "manage.py",
        "runworker",
        "--module",
        "tests.workers_runtime.pipelines",
        "Ok",
        "--root",
        str(tmp_path),
        "--scheduler-url",
        server.url,
        "--no-lock",
    ]
    env = {**_clean_env(), "DATABASE_URL": database_url(), "LOG_LEVEL": "WARNING"}
    refused = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "401" in refused.stderr + refused.stdout
    env["PIPELINES_API_TOKEN"] = create_token("runworker box", "worker").secret
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out").is_dir()


def test_runscheduler_refuses_a_public_address_with_auth_off(tmp_path: Path):
    env = {**_clean_env(), "DATABASE_URL": database_url()}
    command = [
        sys.executable,
        "manage.py",
        "runscheduler",
        "--address",
        "0.0.0.0",
        "--port",
        str(free_port()),
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "SCHEDULER_AUTH=true" in result.stderr and "--insecure" in result.stderr


def test_exposure_rule():
    from scheduler.server import Options, ServerError, check_exposure

    check_exposure(Options(address="127.0.0.1"))
    check_exposure(Options(address="::1"))
    check_exposure(Options(address="0.0.0.0", insecure=True))
    check_exposure(Options(address="0.0.0.0", unix_socket=Path("/tmp/x.sock")))
    with pytest.raises(ServerError, match="authentication off"):
        check_exposure(Options(address="10.1.2.3"))
    from django.test import override_settings

    with override_settings(SCHEDULER_AUTH=True):
        check_exposure(Options(address="0.0.0.0"))

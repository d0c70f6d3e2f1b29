"""RemoteClient.add_tasks: one add_tasks call per chunk where the server has it, and
add_task per task where it does not (404, as luigid) or where a chunk is too big (413).
RemoteClient.report_and_get_work: one call, or add_task then get_work where the server
lacks it.

The server is a small HTTP server on loopback that records what it receives."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from workers.client import BULK_CHUNK, RemoteClient, SchedulerCallError, SchedulerClientError


class _Recorder(ThreadingHTTPServer):
    def __init__(self, statuses: dict[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.statuses = statuses
        self.calls: list[tuple[str, dict]] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Recorder

    def do_POST(self) -> None:
        method = self.path.rsplit("/", 1)[-1]
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        data = json.loads(urllib.parse.parse_qs(body)["data"][0])
        self.server.calls.append((method, data))
        status = self.server.statuses.get(method, 200)
        reply = json.dumps({"response": None} if status == 200 else {"error": "no"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def serve():
    servers = []

    def start(add_tasks_status: int = 200, **statuses: int) -> tuple[_Recorder, RemoteClient]:
        server = _Recorder({"add_tasks": add_tasks_status, **statuses})
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        return server, RemoteClient(url, attempts=1, retry_wait=0)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _payloads(n: int) -> list[dict]:
    return [{"task_id": f"T{i}", "worker": "W", "status": "PENDING"} for i in range(n)]


def test_chunks_of_add_tasks(serve):
    server, client = serve(200)
    client.add_tasks(_payloads(BULK_CHUNK + 5))
    assert [m for m, _ in server.calls] == ["add_tasks", "add_tasks"]
    first, second = (data for _, data in server.calls)
    assert first["worker"] == "W" and len(first["tasks"]) == BULK_CHUNK
    assert [t["task_id"] for t in second["tasks"]] == [f"T{i}" for i in range(BULK_CHUNK, 205)]


def test_a_server_without_add_tasks_gets_add_task_per_task_once_asked(serve):
    server, client = serve(404)
    client.add_tasks(_payloads(BULK_CHUNK + 5))
    client.add_tasks(_payloads(3))
    methods = [m for m, _ in server.calls]
    assert methods[0] == "add_tasks" and methods.count("add_tasks") == 1
    assert methods[1:] == ["add_task"] * (BULK_CHUNK + 5 + 3)
    assert server.calls[1][1]["task_id"] == "T0"


def test_a_chunk_too_large_goes_task_by_task(serve):
    server, client = serve(413)
    client.add_tasks(_payloads(4))
    assert [m for m, _ in server.calls] == ["add_tasks"] + ["add_task"] * 4


def test_other_refusals_are_errors(serve):
    server, client = serve(400)
    with pytest.raises(SchedulerCallError) as caught:
        client.add_tasks(_payloads(2))
    assert caught.value.status == 400
    assert [m for m, _ in server.calls] == ["add_tasks"]


def test_report_and_get_work_is_one_call_where_the_server_has_it(serve):
    server, client = serve()
    report = {"task_id": "T0", "worker": "W", "status": "DONE"}
    client.report_and_get_work(report, worker="W", current_tasks=[])
    assert server.calls == [
        ("report_and_get_work", {"report": report, "worker": "W", "current_tasks": []})
    ]


def test_report_and_get_work_falls_back_to_two_calls_once_refused(serve):
    server, client = serve(report_and_get_work=404)
    for task_id in ("T0", "T1"):
        client.report_and_get_work({"task_id": task_id, "worker": "W"}, worker="W")
    assert [m for m, _ in server.calls] == [
        "report_and_get_work",
        "add_task",
        "get_work",
        "add_task",
        "get_work",
    ]
    assert server.calls[3][1] == {"task_id": "T1", "worker": "W"}


def test_report_and_get_work_refused_for_bad_input_is_an_error(serve):
    server, client = serve(report_and_get_work=400)
    with pytest.raises(SchedulerCallError):
        client.report_and_get_work({"task_id": "T0"}, worker="W")
    assert [m for m, _ in server.calls] == ["report_and_get_work"]


def test_a_failed_report_and_get_work_is_sent_again_whole(serve):
    server, _ = serve(report_and_get_work=503)
    client = RemoteClient(f"http://127.0.0.1:{server.server_address[1]}/", attempts=2, retry_wait=0)
    with pytest.raises(SchedulerClientError):
        client.report_and_get_work({"task_id": "T0", "worker": "W"}, worker="W")
    assert [m for m, _ in server.calls] == ["report_and_get_work", "report_and_get_work"]

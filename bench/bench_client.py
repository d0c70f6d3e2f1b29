"""A minimal Luigi RPC client for the benchmark, plus realistic payload builders.

It speaks the protocol the way `luigi.rpc.RemoteScheduler` does (spec section 1.2):
`POST /api/<method>` with a form-encoded body `data=<JSON object>`, answer
`{"response": ...}`. Unlike Luigi's client it never retries, so every failure is
seen, and it keeps the evidence (request, status, body) of the first few failures.
"""

from __future__ import annotations

import json
import math
import os
import random
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import requests

HOSTNAME = socket.gethostname()
BENCH_MODULE = "bench_tasks"
BENCH_FAMILY = "BenchTask"


class RPCFailure(Exception):
    """A call that did not produce a `{"response": ...}` with HTTP 200."""


@dataclass
class Evidence:
    method: str
    request: dict[str, Any]
    status: int | None
    body: str
    note: str

    def render(self) -> str:
        request = json.dumps(self.request)
        if len(request) > 1500:
            request = request[:1500] + "...(truncated)"
        body = self.body if len(self.body) <= 1500 else self.body[:1500] + "...(truncated)"
        return (
            f"  {self.method}: {self.note}\n"
            f"    request data: {request}\n"
            f"    HTTP status: {self.status}\n"
            f"    response body: {body}"
        )


@dataclass
class Client:
    base_url: str
    timeout: float = 300.0
    keep_evidence: int = 5
    failures: int = 0
    evidence: list[Evidence] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def _fail(self, method: str, data: dict, status: int | None, body: str, note: str) -> None:
        self.failures += 1
        if len(self.evidence) < self.keep_evidence:
            self.evidence.append(Evidence(method, data, status, body, note))
        raise RPCFailure(f"{method}: {note} (HTTP {status})")

    def call_timed(self, method: str, data: dict[str, Any]) -> tuple[Any, float]:
        """Call `method`; return (response value, seconds the HTTP exchange took).

        The time covers sending the request and receiving the whole body (as a
        Luigi worker waits for it), not the JSON decoding on this side.
        """
        body = {"data": json.dumps(data)}
        url = f"{self.base_url}/api/{method}"
        start = time.perf_counter()
        try:
            resp = self.session.post(url, data=body, timeout=self.timeout)
            content = resp.content
        except requests.RequestException as exc:
            elapsed = time.perf_counter() - start
            self._fail(method, data, None, repr(exc), f"transport error after {elapsed:.3f}s")
        elapsed = time.perf_counter() - start
        text = content.decode("utf-8", errors="replace")
        if resp.status_code != 200:
            self._fail(method, data, resp.status_code, text, "non-200 status")
        try:
            decoded = json.loads(text)
        except ValueError:
            self._fail(method, data, resp.status_code, text, "body is not JSON")
        if not isinstance(decoded, dict) or "response" not in decoded:
            self._fail(method, data, resp.status_code, text, "no 'response' key in body")
        return decoded["response"], elapsed

    def call(self, method: str, data: dict[str, Any]) -> Any:
        return self.call_timed(method, data)[0]

    def record_wrong_reply(self, method: str, data: dict, reply: Any, note: str) -> None:
        """Keep evidence of a 200 reply whose content is wrong (no exception)."""
        self.failures += 1
        if len(self.evidence) < self.keep_evidence:
            self.evidence.append(Evidence(method, data, 200, json.dumps(reply)[:3000], note))


def make_worker_id(tag: str = "") -> str:
    salt = random.randint(100_000_000, 999_999_999)
    username = "bench" + (f"-{tag}" if tag else "")
    return (
        f"Worker(salt={salt}, workers=1, host={HOSTNAME}, username={username}, pid={os.getpid()})"
    )


def worker_info(worker_id: str) -> list[list[Any]]:
    """`add_worker` info as a stock worker sends it: a list of [key, value] pairs."""
    salt = worker_id.split("salt=", 1)[1].split(",", 1)[0]
    return [
        ["salt", salt],
        ["workers", 1],
        ["host", HOSTNAME],
        ["username", "bench"],
        ["pid", os.getpid()],
    ]


def task_id_for(index: int) -> str:
    # Same shape as Luigi's ids (family, truncated param values, 10 hex chars of a hash).
    digest = f"{(index * 2654435761) % (1 << 40):010x}"
    return f"{BENCH_FAMILY}_2024_01_01_{index}_{digest}"


def task_params(index: int) -> dict[str, str]:
    return {"date": "2024-01-01", "idx": str(index)}


def add_task_pending(worker: str, index: int) -> dict[str, Any]:
    """The payload a worker sends while scheduling a runnable task with no dependencies
    (spec section 2.3: every argument present, defaults included)."""
    return {
        "owners": [],
        "retry_policy_dict": {
            "retry_count": None,
            "disable_hard_timeout": None,
            "disable_window": None,
        },
        "batch_id": None,
        "batchable": False,
        "worker": worker,
        "tracking_url": None,
        "assistant": False,
        "accepts_messages": False,
        "param_visibilities": {"date": 0, "idx": 0},
        "params": task_params(index),
        "module": BENCH_MODULE,
        "family": BENCH_FAMILY,
        "priority": 0,
        "resources": {},
        "expl": None,
        "new_deps": None,
        "deps": [],
        "runnable": True,
        "status": "PENDING",
        "task_id": task_id_for(index),
    }


def add_task_done(worker: str, task_id: str, params: dict[str, str] | None) -> dict[str, Any]:
    """The payload a worker sends when a task it ran has finished successfully."""
    return {
        "owners": [],
        "retry_policy_dict": {
            "retry_count": None,
            "disable_hard_timeout": None,
            "disable_window": None,
        },
        "batch_id": None,
        "batchable": None,
        "worker": worker,
        "tracking_url": None,
        "assistant": False,
        "accepts_messages": False,
        "param_visibilities": {"date": 0, "idx": 0},
        "params": params,
        "module": BENCH_MODULE,
        "family": BENCH_FAMILY,
        "priority": 0,
        "resources": {},
        "expl": "null",
        "new_deps": [],
        "deps": None,
        "runnable": None,
        "status": "DONE",
        "task_id": task_id,
    }


def get_work_payload(worker: str) -> dict[str, Any]:
    # What a stock worker sends; current_tasks is empty because the bench reports each
    # claimed task DONE before asking again.
    return {"worker": worker, "host": HOSTNAME, "assistant": False, "current_tasks": []}


def percentile(values: list[float], q: float) -> float:
    """Percentile with linear interpolation between closest ranks (q in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)

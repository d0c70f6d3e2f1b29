"""Load: simulated Luigi workers pinging, registering and claiming against two
server processes that share one PostgreSQL database, for a fixed duration.

Every simulated worker is a thread with its own keep-alive HTTP connection to
one of the two servers (alternating). It registers a batch of tasks, then loops
until the deadline: ping about once a second, get_work, "run" a claimed task for
a short while, report it DONE, register a new batch when its own are done. The
loop is bounded by the duration; everything listens on 127.0.0.1.

Reported: RPC latency percentiles per method and overall, errors (non-200
answers and transport failures; target zero), duplicate claims (a task handed to
two workers; target zero), each server process's memory at start, every
``--sample`` seconds and at the end.

    .venv/bin/python bench/load_bench.py                       # 50 workers, 300 s
    .venv/bin/python bench/load_bench.py --workers 10 --duration 30
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_servers import (  # the bench folder is not a package
    BIN_DIR,
    REPO_ROOT,
    BaseServer,
    OurServer,
    _server_env,
    rss_kb,
)


class SecondServer(BaseServer):
    """Another daphne process on the first server's (already migrated) database."""

    label = "ours-2"

    def __init__(self, workdir: Path, tag: str, database_url: str) -> None:
        super().__init__(workdir, tag)
        self.database_url = database_url

    def start(self) -> None:
        env = _server_env()
        env["DATABASE_URL"] = self.database_url
        env["DEBUG"] = "false"
        argv = [str(BIN_DIR / "daphne"), "-b", "127.0.0.1", "-p", str(self.port)]
        self._spawn([*argv, "pipelines_project.asgi:application"], env, REPO_ROOT)
        self.wait_ready()


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.claims: Counter[str] = Counter()

    def add(self, method: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latency[method].append(seconds)
            if error:
                self.errors[f"{method}: {error}"] += 1


class SimulatedWorker(threading.Thread):
    def __init__(self, index: int, port: int, deadline: float, rec: Recorder, batch: int) -> None:
        super().__init__(daemon=True, name=f"sim-{index}")
        self.worker_id = f"load-worker-{index}"
        self.port = port
        self.deadline = deadline
        self.rec = rec
        self.batch = batch
        self.round = 0
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, **arguments) -> object:
        body = urllib.parse.urlencode({"data": json.dumps(arguments)})
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        started = time.perf_counter()
        error = None
        result = None
        try:
            self.conn.request("POST", f"/api/{method}", body=body, headers=headers)
            reply = self.conn.getresponse()
            data = reply.read()
            if reply.status != 200:
                error = f"HTTP {reply.status}"
            else:
                result = json.loads(data)["response"]
        except (OSError, http.client.HTTPException, ValueError) as exc:
            error = type(exc).__name__
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        self.rec.add(method, time.perf_counter() - started, error)
        return result

    def register(self) -> None:
        self.round += 1
        prefix = f"Load_{self.worker_id}_{self.round}"
        ids = [f"{prefix}_{i}" for i in range(self.batch)]
        for i, task_id in enumerate(ids):
            deps = [ids[i + 1]] if i + 1 < len(ids) and i % 4 else []
            self.call(
                "add_task",
                worker=self.worker_id,
                task_id=task_id,
                family="Load",
                params={"worker": self.worker_id, "round": str(self.round), "i": str(i)},
                deps=deps,
                priority=random.randint(0, 5),
                runnable=True,
                status="PENDING",
            )

    def run(self) -> None:
        self.call("add_worker", worker=self.worker_id, info={"host": "load", "workers": 1})
        self.register()
        last_ping = 0.0
        while time.monotonic() < self.deadline:
            if time.monotonic() - last_ping >= 1.0:
                self.call("ping", worker=self.worker_id)
                last_ping = time.monotonic()
            work = self.call("get_work", worker=self.worker_id, host="load", current_tasks=[])
            task_id = work.get("task_id") if isinstance(work, dict) else None
            if task_id:
                with self.rec.lock:
                    self.rec.claims[task_id] += 1
                time.sleep(random.uniform(0.0, 0.2))
                self.call("add_task", worker=self.worker_id, task_id=task_id, status="DONE")
            elif isinstance(work, dict) and not work.get("n_pending_tasks"):
                self.register()
            else:
                time.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    parser.add_argument("--batch", type=int, default=40, help="tasks per registration")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between RSS samples")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="load-bench-"))
    first = OurServer(workdir, "a", "postgres", args.pg_url)
    second = None
    try:
        first.start()
        database_url = f"{first.pg_url}/{first.db_name}"
        second = SecondServer(workdir, "b", database_url)
        second.start()
        servers = [first, second]
        memory = {s.port: [(0.0, rss_kb(s.pid)["rss_kb"])] for s in servers}
        rec = Recorder()
        began = time.monotonic()
        deadline = began + args.duration
        sims = [
            SimulatedWorker(i, servers[i % 2].port, deadline, rec, args.batch)
            for i in range(args.workers)
        ]
        for sim in sims:
            sim.start()
        while time.monotonic() < deadline:
            time.sleep(min(args.sample, max(0.0, deadline - time.monotonic())))
            for s in servers:
                memory[s.port].append((time.monotonic() - began, rss_kb(s.pid)["rss_kb"]))
            done = sum(len(v) for v in rec.latency.values())
            print(f"{time.monotonic() - began:6.0f} s  {done} calls", file=sys.stderr)
        for sim in sims:
            sim.join(90)
        elapsed = time.monotonic() - began
        report(args, rec, memory, elapsed)
        return 0 if not rec.errors and not _duplicates(rec) else 1
    finally:
        for server in (second, first):
            if server is not None:
                server.stop()
        first.cleanup()


def _duplicates(rec: Recorder) -> dict[str, int]:
    return {task_id: n for task_id, n in rec.claims.items() if n > 1}


def report(args, rec: Recorder, memory: dict, elapsed: float) -> None:
    everything = [s for values in rec.latency.values() for s in values]
    print(f"\n== load: {args.workers} simulated workers, 2 servers, PostgreSQL, {elapsed:.0f} s ==")
    print(f"{'method':<12} {'calls':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for method, values in [*sorted(rec.latency.items()), ("ALL", everything)]:
        print(
            f"{method:<12} {len(values):>8} {1000 * statistics.median(values):>8.1f} "
            f"{1000 * percentile(values, 0.95):>8.1f} {1000 * percentile(values, 0.99):>8.1f} "
            f"{1000 * max(values):>8.1f}"
        )
    print(f"throughput: {len(everything) / elapsed:.0f} calls/s")
    print(f"tasks claimed: {len(rec.claims)}, claimed twice: {len(_duplicates(rec))}")
    print(f"errors: {sum(rec.errors.values())}")
    for line, count in rec.errors.most_common(10):
        print(f"  {count} x {line}")
    for port, samples in memory.items():
        series = ", ".join(f"{t:.0f}s {kb / 1024:.0f}" for t, kb in samples)
        print(f"server :{port} RSS MiB: {series}")


if __name__ == "__main__":
    raise SystemExit(main())

"""Latency of live updates: a status change committed by a worker process (direct
database mode, as ``runworker`` runs) until it arrives at a WebSocket client.

    .venv/bin/python bench/live_updates_bench.py                  # both setups below
    .venv/bin/python bench/live_updates_bench.py --setups sqlite --seconds 5 --rate 500
    .venv/bin/python bench/live_updates_bench.py --batch 10   # 10 changes per transaction

Setups: ``postgres+redis`` (a new PostgreSQL database, the channels_redis layer;
target p99 < 250 ms), ``sqlite`` (the embedded default: a new SQLite file,
in-memory layer, changes found by tailing the outbox; target p99 < 1 s) and
``postgres`` (PostgreSQL without Redis, for comparison). For each,
``manage.py runscheduler`` is started on a free loopback port, one client
subscribes to all tasks, and ``--producers`` processes make ``--rate`` changes per
second in total for ``--seconds`` (each task: registered, then DONE; one change
per service call). A producer writes, for every change, its seq and the time the
call returned (the commit is inside the call); the client stamps each event when
its frame is parsed. Same machine, same clock. Latency = arrival - commit.

Reported per setup: changes made, achieved rate (changes over the span of their
commits; the producers' write path may not reach ``--rate``), changes received (all must be,
in seq order), latency p50/p99/max. Requires PostgreSQL at ``--pg-url`` and Redis
at ``--redis-url`` for the first setup.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_client import percentile
from bench_servers import REPO_ROOT, OurServer, ServerError

TARGETS_MS = {"postgres+redis": 250.0, "sqlite": 1000.0}  # "postgres": no target, compare


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Runscheduler(OurServer):
    """The benchmark's server helper, started as ``manage.py runscheduler``."""

    label = "runscheduler"

    def __init__(self, workdir: Path, tag: str, db: str, pg_url: str, redis_url: str) -> None:
        super().__init__(workdir, tag, db, pg_url)
        self.redis_url = redis_url
        self.env: dict[str, str] = {}

    def start(self) -> None:
        database_url = self._create_database()
        env = dict(os.environ)
        env.pop("REDIS_URL", None)
        env.update({"DATABASE_URL": database_url, "DEBUG": "false", "PYTHONUNBUFFERED": "1"})
        env["LOG_LEVEL"] = "WARNING"
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        self.env = env
        with open(self.log_path, "ab") as out:
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput"],
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
            )
        argv = [sys.executable, "manage.py", "runscheduler", "--port", str(self.port)]
        self._spawn(argv, env, REPO_ROOT)
        self.wait_ready()


# --------------------------------------------------------------------------- producer


def produce(worker: str, rate: float, seconds: float, out_path: str, batch: int = 1) -> None:
    """One producer process: ``rate`` changes per second, seq and commit time to a file;
    ``batch`` service calls share one transaction (as a bulk registration does)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipelines_project.settings")
    import django

    django.setup()
    from scheduler import rpc
    from scheduler.service import Ctx
    from scheduler.service.base import operation

    @operation
    def calls(ctx: Ctx, arguments: list[dict]) -> None:
        """``batch`` add_task calls as one operation: one transaction, the outbox
        rows written at its end (as add_tasks registers many tasks)."""
        for one in arguments:
            rpc.call("add_task", one, ctx=ctx)

    records = []
    interval = 1.0 / rate
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        due = start + n * interval
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        ctx = Ctx.make()
        batch_arguments = []
        for k in range(n, n + batch):
            arguments = {"task_id": f"{worker}_{k // 2}", "worker": worker}
            arguments["family"] = "LiveBench"
            if k % 2:
                arguments["status"] = "DONE"
            batch_arguments.append(arguments)
        calls(ctx, batch_arguments)
        committed = time.time()
        records.extend((change.seq, committed) for change in ctx.changes)
        n += batch
    Path(out_path).write_text(json.dumps(records))


# --------------------------------------------------------------------------- client


async def listen(url: str, stop: asyncio.Event, arrivals: dict[int, float]) -> list[int]:
    from visualiser.client import LiveClient

    client = await LiveClient.connect(url)
    await client.send({"subscribe": "all"})
    order: list[int] = []
    try:
        while not stop.is_set():
            try:
                message = await client.receive(timeout=0.2)
            except TimeoutError:
                continue
            now = time.time()
            if message.get("type") == "events":
                for event in message["events"]:
                    arrivals.setdefault(event["seq"], now)
                    order.append(event["seq"])
            elif message.get("type") == "snapshot":
                log(f"  subscribed at seq {message['seq']}")
    finally:
        await client.close()
    return order


async def measure(server: Runscheduler, args: argparse.Namespace, workdir: Path) -> dict:
    url = f"ws://127.0.0.1:{server.port}/ws/tasks/"
    arrivals: dict[int, float] = {}
    stop = asyncio.Event()
    listener = asyncio.create_task(listen(url, stop, arrivals))
    await asyncio.sleep(1.0)
    outputs = [workdir / f"producer-{server.tag}-{i}.json" for i in range(args.producers)]
    producers = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--producer",
                f"w{i}",
                str(args.rate / args.producers),
                str(args.seconds),
                str(outputs[i]),
                str(args.batch),
            ],
            cwd=REPO_ROOT,
            env=server.env,
        )
        for i in range(args.producers)
    ]
    try:
        while any(p.poll() is None for p in producers):
            await asyncio.sleep(0.2)
    finally:
        for p in producers:
            if p.poll() is None:
                p.kill()
                p.wait()
    if any(p.returncode for p in producers):
        raise ServerError(f"a producer failed: {[p.returncode for p in producers]}")
    committed = dict((seq, at) for path in outputs for seq, at in json.loads(path.read_text()))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not set(committed) <= set(arrivals):
        await asyncio.sleep(0.1)
    stop.set()
    order = await listener
    latencies = [(arrivals[s] - committed[s]) * 1000 for s in committed if s in arrivals]
    span = max(committed.values(), default=0) - min(committed.values(), default=0)
    return {
        "changes": len(committed),
        "rate": len(committed) / span if span else float("nan"),
        "received": sum(1 for s in committed if s in arrivals),
        "in_order": order == sorted(order) and len(order) == len(set(order)),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=float("nan")),
    }


def run_setup(name: str, args: argparse.Namespace, workdir: Path) -> dict:
    db = "postgres" if name.startswith("postgres") else "sqlite"
    redis_url = args.redis_url if "redis" in name else ""
    server = Runscheduler(workdir, name.replace("+", "-"), db, args.pg_url, redis_url)
    log(f"{name}: starting runscheduler")
    try:
        server.start()
        return asyncio.run(measure(server, args, workdir))
    finally:
        server.stop()
        server.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setups", default="postgres+redis,sqlite")
    parser.add_argument("--rate", type=float, default=1000.0, help="changes per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument(
        "--batch", type=int, default=1, help="changes per producer transaction (bulk writes)"
    )
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipelines_project.settings")
    results = {}
    with tempfile.TemporaryDirectory(prefix="live-bench-") as tmp:
        for name in args.setups.split(","):
            results[name] = run_setup(name, args, Path(tmp))
            log(f"{name}: {results[name]}")
    print(
        f"\nlive updates, {args.rate:.0f} changes/s requested for {args.seconds:.0f} s, "
        f"{args.batch} per transaction"
    )
    print(
        f"{'setup':16} {'changes':>8} {'rate/s':>7} {'recv':>6} {'order':>5} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}  target"
    )
    for name, r in results.items():
        target = TARGETS_MS.get(name)
        verdict = "n/a" if target is None else ("MET" if r["p99_ms"] < target else "NOT MET")
        print(
            f"{name:16} {r['changes']:8d} {r['rate']:7.0f} {r['received']:6d} "
            f"{'ok' if r['in_order'] else 'BAD':>5} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f} "
            f"{r['max_ms']:7.1f}  "
            + ("" if target is None else f"p99 < {target:.0f} ms: {verdict}")
        )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--producer":
        produce(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], int(sys.argv[6]))
    else:
        sys.exit(main())

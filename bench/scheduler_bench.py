"""Benchmark our Luigi-compatible scheduler against Luigi's own `luigid`, side by side.

Run on demand (not part of the test suite):

    .venv/bin/python bench/scheduler_bench.py            # full run on PostgreSQL
    .venv/bin/python bench/scheduler_bench.py --quick    # small smoke run

Each server is measured in turn on a free loopback port, with a fresh state (luigid:
empty state file in a temp dir; ours: new database, migrated). See bench/README.md for
what is measured and how to read the output.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_client import (
    Client,
    RPCFailure,
    add_task_done,
    add_task_pending,
    get_work_payload,
    make_worker_id,
    percentile,
    worker_info,
)
from bench_servers import (
    BIN_DIR,
    ConnectionSampler,
    LuigidServer,
    OurServer,
    ServerError,
    cpu_seconds,
    postgres_cpu_seconds,
    stop_pid,
)

BENCH_DIR = Path(__file__).resolve().parent
MAX_FAILURES = 50  # per phase; beyond this the phase is abandoned
EXIT_GRACE = 60.0  # seconds luigi workers get to exit once the DAG's root task is done
STALL_LIMIT = 180.0  # seconds without any progress before a DAG run is abandoned
T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass
class ServerResult:
    label: str
    add_task: dict[str, Any] = field(default_factory=dict)
    get_work: dict[int, dict[str, Any]] = field(default_factory=dict)
    reads: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    dag: dict[str, Any] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)
    anomalies: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    log_problems: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- phases


class PhaseAborted(RuntimeError):
    pass


def _guard(client: Client) -> None:
    if client.failures > MAX_FAILURES:
        raise PhaseAborted(f"more than {MAX_FAILURES} failed calls")


def fill(server, worker, pending, next_index, target, args, result) -> int:
    """Register tasks (untimed) until `target` are pending, with concurrent clients."""
    need = target - len(pending)
    if need <= 0:
        return next_index
    n_threads = max(1, min(args.fill_concurrency, need // 50 or 1))
    indexes = list(range(next_index, next_index + need))
    chunks = [indexes[i::n_threads] for i in range(n_threads)]
    clients = [Client(server.url) for _ in chunks]

    def register(client: Client, chunk: list[int]) -> list[tuple[str, dict]]:
        done = []
        for index in chunk:
            payload = add_task_pending(worker, index)
            try:
                client.call("add_task", payload)
            except RPCFailure:
                if client.failures > MAX_FAILURES:
                    break
                continue
            done.append((payload["task_id"], payload["params"]))
        return done

    try:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            for done in pool.map(register, clients, chunks):
                pending.update(done)
    finally:
        failures = sum(c.failures for c in clients)
        for c in clients:
            result.evidence.extend(e.render() for e in c.evidence[:2])
            c.close()
    if failures:
        result.anomalies.append(
            f"{failures} add_task calls failed while registering tasks with "
            f"{n_threads} concurrent clients"
        )
        if failures > MAX_FAILURES:
            raise PhaseAborted(f"more than {MAX_FAILURES} failed add_task calls while filling")
    return next_index + need


def state_phase(server, args, result: ServerResult) -> None:
    """add_task throughput, get_work at growing pending counts, reads and memory."""
    client = Client(server.url)
    worker = make_worker_id()
    pending: dict[str, dict[str, str]] = {}  # task id -> params
    next_index = 0
    worker_added = False
    try:
        # 1. add_task: sequential calls on a fresh server, each one timed.
        n_seq = min(args.add_task_samples, args.size_list[-1])
        log(f"{result.label}: {n_seq} sequential add_task calls")
        latencies: list[float] = []
        wall_start = time.perf_counter()
        for _ in range(n_seq):
            payload = add_task_pending(worker, next_index)
            next_index += 1
            try:
                _, elapsed = client.call_timed("add_task", payload)
            except RPCFailure:
                _guard(client)
                continue
            latencies.append(elapsed)
            pending[payload["task_id"]] = payload["params"]
        wall = time.perf_counter() - wall_start
        result.add_task = {
            "calls": len(latencies),
            "calls_per_s": len(latencies) / wall if wall else math.nan,
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
        }
        log(
            f"{result.label}: add_task {result.add_task['calls_per_s']:.1f} calls/s, "
            f"p50 {result.add_task['p50_ms']:.2f} ms"
        )
        # 2. get_work at each size; the first sizes may already be over-filled by step 1,
        # so tasks beyond the size are completed first (untimed) when needed.
        for size in args.size_list:
            if len(pending) > size:
                log(f"{result.label}: completing {len(pending) - size} tasks to get to {size}")
                for task_id in list(pending)[: len(pending) - size]:
                    params = pending.pop(task_id)
                    try:
                        client.call("add_task", add_task_done(worker, task_id, params))
                    except RPCFailure:
                        _guard(client)
            log(f"{result.label}: registering tasks up to {size} pending")
            fill_start = time.perf_counter()
            next_index = fill(server, worker, pending, next_index, size, args, result)
            log(f"{result.label}: filled in {time.perf_counter() - fill_start:.1f}s")
            if not worker_added:
                try:
                    client.call("add_worker", {"worker": worker, "info": worker_info(worker)})
                except RPCFailure:
                    _guard(client)
                worker_added = True
            result.get_work[size], next_index = measure_get_work(
                client, worker, pending, next_index, args, result, size
            )
            gw = result.get_work[size]
            log(
                f"{result.label}: get_work @{size}: p50 {gw['p50_ms']:.2f} ms, "
                f"p99 {gw['p99_ms']:.2f} ms ({gw['samples']} samples)"
            )

        largest = args.size_list[-1]
        result.memory["size"] = largest
        result.memory["after_get_work"] = server.memory()
        log(f"{result.label}: reads at {largest} pending")
        result.reads = measure_reads(client, pending, next_index, args, result)
        result.memory["after_reads"] = server.memory()
        result.info.update(server.extra_info())
    finally:
        result.evidence.extend(e.render() for e in client.evidence)
        client.close()


def measure_get_work(
    client, worker, pending, next_index, args, result, size
) -> tuple[dict[str, Any], int]:
    """Timed get_work calls from the worker that registered every pending task.

    After each call the claimed task is reported DONE and a fresh task is registered,
    both untimed, so the pending count stays at `size`.
    """
    latencies: list[float] = []
    add_latencies: list[float] = []
    n_pending_seen: list[int] = []
    warmup = args.warmup
    count_mismatch = 0
    claimed: set[str] = set()
    budget_end = time.monotonic() + args.get_work_budget
    min_samples = min(20, args.get_work_samples)
    for i in range(warmup + args.get_work_samples):
        if len(latencies) >= min_samples and time.monotonic() > budget_end:
            result.anomalies.append(
                f"get_work @{size}: stopped after {len(latencies)} samples "
                f"(--get-work-budget {args.get_work_budget:.0f}s)"
            )
            break
        payload = get_work_payload(worker)
        expected_pending = len(pending)
        try:
            reply, elapsed = client.call_timed("get_work", payload)
        except RPCFailure:
            _guard(client)
            continue
        task_id = reply.get("task_id") if isinstance(reply, dict) else None
        missing = (
            [k for k in ("n_pending_tasks", "n_unique_pending", "running_tasks") if k not in reply]
            if isinstance(reply, dict)
            else ["(reply is not an object)"]
        )
        if missing:
            client.record_wrong_reply("get_work", payload, reply, f"missing keys {missing}")
        if task_id is None:
            client.record_wrong_reply(
                "get_work", payload, reply, f"no task handed out with {len(pending)} pending"
            )
        elif task_id not in pending:
            note = "task handed out twice" if task_id in claimed else "unknown task handed out"
            client.record_wrong_reply("get_work", payload, reply, note)
        if isinstance(reply, dict) and reply.get("n_pending_tasks") != expected_pending:
            count_mismatch += 1
            if count_mismatch == 1:
                result.anomalies.append(
                    f"get_work @{size}: n_pending_tasks={reply.get('n_pending_tasks')!r}, "
                    f"expected {expected_pending} (the claimed task still counts as pending)"
                )
        if i >= warmup:
            latencies.append(elapsed)
            if isinstance(reply, dict) and isinstance(reply.get("n_pending_tasks"), int):
                n_pending_seen.append(reply["n_pending_tasks"])
        if task_id is not None and task_id in pending:
            params = pending.pop(task_id)
            claimed.add(task_id)
            try:
                client.call("add_task", add_task_done(worker, task_id, params))
            except RPCFailure:
                _guard(client)
        # Keep the pending count constant (not part of the get_work time; these
        # add_task calls at this size are timed separately).
        while len(pending) < expected_pending:
            payload = add_task_pending(worker, next_index)
            next_index += 1
            try:
                _, elapsed = client.call_timed("add_task", payload)
            except RPCFailure:
                _guard(client)
                continue
            add_latencies.append(elapsed)
            pending[payload["task_id"]] = payload["params"]
        _guard(client)
    if count_mismatch > 1:
        result.anomalies.append(f"get_work @{size}: {count_mismatch} n_pending_tasks mismatches")
    stats = {
        "samples": len(latencies),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000 if latencies else math.nan,
        "add_task_p50_ms": percentile(add_latencies, 50) * 1000,
        "n_pending_reported": (min(n_pending_seen), max(n_pending_seen))
        if n_pending_seen
        else None,
    }
    return stats, next_index


def measure_reads(client, pending, next_index, args, result) -> dict[str, Any]:
    reads: dict[str, Any] = {}
    calls = {
        "task_list": {
            "status": "PENDING",
            "upstream_status": "",
            "search": "",
            "limit": True,
            "max_shown_tasks": None,
        },
        "graph": {},
    }
    for method, payload in calls.items():
        times: list[float] = []
        returned = None
        budget_end = time.monotonic() + args.read_budget
        for _ in range(args.read_samples):
            if times and time.monotonic() > budget_end:
                break
            try:
                reply, elapsed = client.call_timed(method, payload)
            except RPCFailure:
                _guard(client)
                continue
            times.append(elapsed)
            returned = len(reply) if isinstance(reply, dict) else None
            if isinstance(reply, dict) and "num_tasks" in reply:
                client.record_wrong_reply(
                    method, payload, {"num_tasks": reply["num_tasks"]}, "count instead of tasks"
                )
        if method == "task_list" and returned is not None and returned != len(pending):
            result.anomalies.append(
                f"task_list PENDING returned {returned} tasks, {len(pending)} are pending"
            )
        reads[method] = {
            "samples": len(times),
            "median_ms": percentile(times, 50) * 1000,
            "max_ms": max(times) * 1000 if times else math.nan,
            "tasks_returned": returned,
        }
        log(f"{result.label}: {method}: median {reads[method]['median_ms']:.0f} ms ({returned})")
    return reads


def dag_phase(server, args, workdir: Path, result: ServerResult) -> None:
    """Wall time of a fan-in DAG run by `args.workers` `luigi` processes (--workers 1)."""
    n_tasks = args.dag_tasks
    n_groups = max(1, min(50, n_tasks // 100))
    out_dir = workdir / f"dag-out-{result.label}"
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = workdir / f"luigi-{result.label}.cfg"
    cfg_path.write_text(
        "\n".join(
            [
                "[core]",
                f"scheduler_url = {server.url}",
                "rpc_connect_timeout = 60",
                "rpc_retry_attempts = 3",
                "rpc_retry_wait = 5",
                "log_level = INFO",
                "no_lock = true",
                f"lock_pid_dir = {workdir / 'luigi-locks'}",
                "",
                "[worker]",
                "ping_interval = 5",
                "keep_alive = true",
                "wait_interval = 0.1",
                "wait_jitter = 0.1",
                "",
                "[retcode]",
                "task_failed = 30",
                "scheduling_error = 35",
                "unhandled_exception = 40",
                "",
                "[bench_dag]",
                f"out_dir = {out_dir}",
                "",
            ]
        )
    )
    env = dict(os.environ)
    env["LUIGI_CONFIG_PATH"] = str(cfg_path)
    env.pop("LUIGI_CONFIG_PARSER", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH_DIR), env.get("PYTHONPATH")]))
    argv = [
        str(BIN_DIR / "luigi"),
        "--module",
        "dag_tasks",
        "BenchDagRoot",
        "--n-tasks",
        str(n_tasks),
        "--n-groups",
        str(n_groups),
        "--workers",
        "1",
    ]
    log(f"{result.label}: DAG of {n_tasks} tasks, {args.workers} luigi processes")
    procs = []
    log_files = []
    on_postgres = getattr(server, "db", None) == "postgres"
    cpu_before = _dag_cpu(server, on_postgres)
    start = time.perf_counter()
    for i in range(args.workers):
        path = workdir / f"luigi-worker-{result.label}-{i}.log"
        result.logs.append(str(path))
        handle = open(path, "wb")  # noqa: SIM115 - closed below
        log_files.append((path, handle))
        procs.append(
            subprocess.Popen(argv, cwd=workdir, env=env, stdout=handle, stderr=subprocess.STDOUT)
        )
    deadline = time.monotonic() + args.dag_timeout
    root_output = out_dir / "root.txt"
    root_done_s = None
    verdict = ""
    last_progress = (-1, -1)
    last_change = time.monotonic()
    next_check = 0.0
    while any(p.poll() is None for p in procs):
        now = time.monotonic()
        if root_done_s is None and root_output.exists():
            root_done_s = time.perf_counter() - start
        if now > deadline:
            verdict = f"DAG run did not finish within {args.dag_timeout:.0f}s"
            break
        if root_done_s is not None and time.perf_counter() - start > root_done_s + EXIT_GRACE:
            verdict = (
                f"DAG run: the root task was done after {root_done_s:.1f}s but "
                f"{sum(p.poll() is None for p in procs)} luigi worker(s) had not exited "
                f"{EXIT_GRACE:.0f}s later"
            )
            break
        if now >= next_check:  # progress = worker log output (scheduling) or task outputs
            next_check = now + 2.0
            progress = (
                sum(path.stat().st_size for path, _ in log_files),
                sum(1 for _ in out_dir.rglob("*.txt")),
            )
            if progress != last_progress:
                last_progress, last_change = progress, now
            elif now - last_change > STALL_LIMIT:
                verdict = (
                    f"DAG run stalled: no worker log output and no new task output for "
                    f"{STALL_LIMIT:.0f}s ({progress[1]} of {n_tasks} tasks done)"
                )
                break
        time.sleep(0.05)
    wall = time.perf_counter() - start
    if root_done_s is None and root_output.exists():
        root_done_s = wall
    timed_out = any(p.poll() is None for p in procs)
    if timed_out:
        result.anomalies.append(verdict + "; server state after stopping the workers below")
        for proc in procs:
            stop_pid(proc, grace=5)
        probe_stuck_dag(server, result)
    for _, handle in log_files:
        handle.close()
    cpu = {k: v - cpu_before[k] for k, v in _dag_cpu(server, on_postgres).items()}

    files = list(out_dir.rglob("*.txt"))
    runners: dict[str, int] = {}
    for f in files:
        try:
            pid = f.read_text().strip()
        except OSError:
            continue
        runners[pid] = runners.get(pid, 0) + 1
    retries = 0
    happy = 0
    for path, _ in log_files:
        text = path.read_text(errors="replace")
        retries += text.count("Failed connecting to remote scheduler")
        happy += "This progress looks :)" in text
        fatal = [line for line in text.splitlines() if line.startswith("luigi.rpc.RPCError")]
        if fatal:
            result.anomalies.append(f"{path.name}: worker died: {fatal[-1][:300]}")
    rcs = [p.returncode for p in procs]
    if len(files) != n_tasks:
        result.anomalies.append(f"DAG run produced {len(files)} outputs of {n_tasks}")
    if any(rc != 0 for rc in rcs):
        result.anomalies.append(f"luigi worker exit codes {rcs} (see {workdir})")
    if retries:
        result.anomalies.append(f"DAG run: {retries} RPC retries logged by the workers")
    result.dag = {
        "tasks": n_tasks,
        "workers": args.workers,
        "wall_s": wall,
        "tasks_per_s": len(files) / wall if wall else math.nan,  # = n_tasks when complete
        "outputs": len(files),
        "tasks_per_process": sorted(runners.values(), reverse=True),
        "exit_codes": rcs,
        "rpc_retries": retries,
        "happy_summaries": happy,
        "timed_out": timed_out,
        "root_done_s": root_done_s,
        "cpu_s": cpu,
    }
    log(f"{result.label}: DAG wall {wall:.1f}s, {result.dag['tasks_per_s']:.1f} tasks/s")


def _dag_cpu(server, on_postgres: bool) -> dict[str, float]:
    """CPU seconds used so far by the server, PostgreSQL (when the server uses it
    here) and the finished children of this process: the DAG run's luigi workers
    once they have ended (the server is a child too, but runs on)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {
        "server": cpu_seconds(server.pid),
        "luigi_workers": children.ru_utime + children.ru_stime,
    }
    if on_postgres:
        cpu["postgres"] = postgres_cpu_seconds()
    return cpu


def probe_stuck_dag(server, result: ServerResult) -> None:
    """After a stuck DAG run (workers already stopped), record what the server says."""
    client = Client(server.url, keep_evidence=0)

    def note(method: str, payload: dict, reply: Any) -> None:
        result.evidence.append(
            f"  {method} request data: {json.dumps(payload)}\n"
            f"    response: {json.dumps(reply)[:1200]}"
        )

    try:
        tasks = client.call("task_list", {"status": "", "upstream_status": "", "search": ""})
        pending_ids: list[str] = []
        if isinstance(tasks, dict):
            by_status: dict[str, int] = {}
            for task_id, task in tasks.items():
                status = task.get("status", "?") if isinstance(task, dict) else "?"
                by_status[status] = by_status.get(status, 0) + 1
                if status == "PENDING":
                    pending_ids.append(task_id)
            result.evidence.append(f"  task_list (all statuses) counts by status: {by_status}")
        for task_id in sorted(pending_ids)[:3]:
            payload = {"task_id": task_id, "include_done": True}
            graph = client.call("dep_graph", payload)
            if isinstance(graph, dict) and isinstance(graph.get(task_id), dict):
                deps = graph[task_id].get("deps") or []
                dep_status: dict[str, int] = {}
                for dep in deps:
                    status = (graph.get(dep) or {}).get("status", "missing")
                    dep_status[status] = dep_status.get(status, 0) + 1
                result.evidence.append(
                    f"  PENDING task {task_id}: {len(deps)} deps, their statuses {dep_status}"
                )
        workers = client.call("worker_list", {"include_running": True})
        worker_ids = (
            [w["name"] for w in workers if isinstance(w, dict) and w.get("name")]
            if isinstance(workers, list)
            else []
        )
        for worker_id in worker_ids[:2]:
            payload = {"worker": worker_id}
            note("count_pending", payload, client.call("count_pending", payload))
        if worker_ids and pending_ids:
            # The luigi workers are stopped by now, so asking on behalf of one is harmless.
            payload = {
                "worker": worker_ids[0],
                "host": "bench-probe",
                "assistant": False,
                "current_tasks": [],
            }
            note("get_work (as a stopped worker)", payload, client.call("get_work", payload))
    except RPCFailure as exc:
        result.evidence.append(f"  probing the server after the stuck DAG run failed: {exc}")
    finally:
        client.close()


def run_server(kind: str, args, workdir: Path) -> ServerResult:
    result = ServerResult(label=kind)

    def make(tag: str):
        if kind == "luigid":
            return LuigidServer(workdir, tag)
        return OurServer(workdir, tag, args.db, args.pg_url)

    phases = [("state", state_phase)]
    if not args.skip_dag:
        phases.append(("dag", None))
    for tag, func in phases:
        server = make(tag)
        try:
            log(f"{kind}: starting for the {tag} phase on {server.url}")
            server.start()
            result.info.setdefault("pid_" + tag, str(server.pid))
            with ConnectionSampler(server) as sampler:
                if func is not None:
                    func(server, args, result)
                else:
                    dag_phase(server, args, workdir, result)
            if sampler.peak is not None:
                result.info[f"peak_db_connections_{tag}"] = str(sampler.peak)
        except (PhaseAborted, ServerError, RPCFailure) as exc:
            result.anomalies.append(f"{tag} phase aborted: {exc}")
            log(f"{kind}: {tag} phase aborted: {exc}")
        finally:
            alive = server.proc is not None and server.proc.poll() is None
            if server.proc is not None and not alive:
                result.anomalies.append(
                    f"{kind} server exited by itself (code {server.proc.returncode}) "
                    f"during the {tag} phase"
                )
            server.stop()
            count, lines = server.log_problems()
            if count:
                result.log_problems.append(
                    f"{server.log_path}: {count} errors/warnings/HTTP errors, by kind:"
                )
                result.log_problems.extend("    " + line for line in lines)
            result.logs.append(str(server.log_path))
            try:
                server.cleanup()
            except Exception as exc:
                result.anomalies.append(f"cleanup failed: {exc!r}")
    return result


# --------------------------------------------------------------------------- report


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _ratio(ours: Any, theirs: Any) -> str:
    try:
        if ours is None or theirs is None or math.isnan(ours) or math.isnan(theirs) or not theirs:
            return "-"
    except TypeError:
        return "-"
    return f"{ours / theirs:.2f}x"


def _get(d: dict, *keys: Any) -> Any:
    for key in keys:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def build_rows(results: dict[str, ServerResult], args) -> list[tuple[str, Any, Any, str]]:
    luigid = results.get("luigid")
    ours = results["ours"]
    largest = args.size_list[-1]
    rows: list[tuple[str, str, list[Any]]] = []

    def add(label: str, path: tuple, digits: int = 2, scale: float = 1.0) -> None:
        values = []
        for res in (luigid, ours):
            if res is None:
                values.append(None)
                continue
            source = res.__dict__[path[0]]
            value = _get(source, *path[1:])
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = value * scale
            values.append(value)
        rows.append((label, digits, values))

    add(
        f"add_task calls/s (sequential, {_get(ours.add_task, 'calls')} calls)",
        ("add_task", "calls_per_s"),
        1,
    )
    add("add_task p50 (ms)", ("add_task", "p50_ms"))
    add("add_task p99 (ms)", ("add_task", "p99_ms"))
    add(
        f"add_task p50 @{largest:,} pending (ms, during get_work)",
        ("get_work", largest, "add_task_p50_ms"),
    )
    for size in args.size_list:
        add(f"get_work p50 @{size:,} pending (ms)", ("get_work", size, "p50_ms"))
        add(f"get_work p99 @{size:,} pending (ms)", ("get_work", size, "p99_ms"))
    add(f"task_list PENDING @{largest:,} (ms, median)", ("reads", "task_list", "median_ms"), 0)
    add(f"graph @{largest:,} (ms, median)", ("reads", "graph", "median_ms"), 0)
    mib = 1 / 1024
    add(
        f"server RSS @{largest:,} after get_work (MiB)",
        ("memory", "after_get_work", "rss_kb"),
        1,
        mib,
    )
    add(f"server RSS @{largest:,} after reads (MiB)", ("memory", "after_reads", "rss_kb"), 1, mib)
    add("server peak RSS, VmHWM (MiB)", ("memory", "after_reads", "hwm_kb"), 1, mib)
    if not args.skip_dag:
        add(
            f"DAG {args.dag_tasks:,} tasks, {args.workers} luigi procs: wall (s)",
            ("dag", "wall_s"),
            2,
        )
        add("DAG tasks/s", ("dag", "tasks_per_s"), 1)
        add("DAG CPU: server process (s)", ("dag", "cpu_s", "server"), 1)
        add("DAG CPU: PostgreSQL processes (s)", ("dag", "cpu_s", "postgres"), 1)
        add("DAG CPU: luigi worker processes (s)", ("dag", "cpu_s", "luigi_workers"), 1)
    table = []
    for label, digits, (theirs, mine) in rows:
        ratio = _ratio(mine, theirs) if luigid is not None else "-"
        table.append((label, _fmt(theirs, digits), _fmt(mine, digits), ratio))
    return table


def targets(results: dict[str, ServerResult], args) -> list[tuple[str, str, str]]:
    luigid = results.get("luigid")
    ours = results["ours"]
    smallest, largest = args.size_list[0], args.size_list[-1]
    out: list[tuple[str, str, str]] = []

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("MET" if ok else "NOT MET")

    p_small = _get(ours.get_work, smallest, "p50_ms")
    p_large = _get(ours.get_work, largest, "p50_ms")
    ok = None
    detail = "not measured"
    if p_small is not None and p_large is not None and not math.isnan(p_large):
        ok = p_large <= 1.5 * p_small and p_large < 10.0
        detail = (
            f"p50 {p_large:.2f} ms @{largest:,} vs {p_small:.2f} ms @{smallest:,} "
            f"({p_large / p_small:.2f}x; need <=1.5x and <10 ms)"
        )
    out.append(
        (f"get_work p50 @{largest:,} within 1.5x of @{smallest:,} and <10 ms", verdict(ok), detail)
    )

    ok, detail = None, "luigid skipped" if luigid is None else "not measured"
    mine, theirs = _get(ours.add_task, "p50_ms"), _get(luigid.add_task if luigid else {}, "p50_ms")
    if mine is not None and theirs:
        ok = mine <= 2 * theirs
        detail = f"{mine:.2f} ms vs luigid {theirs:.2f} ms ({mine / theirs:.2f}x; need <=2x)"
    out.append(("add_task p50 within 2x of luigid's", verdict(ok), detail))

    ok, detail = None, "luigid skipped" if luigid is None else "not measured"
    if args.skip_dag:
        detail = "DAG run skipped"
    mine, theirs = _get(ours.dag, "wall_s"), _get(luigid.dag if luigid else {}, "wall_s")
    if mine and theirs:
        complete = ours.dag.get("outputs") == ours.dag.get("tasks") and not ours.dag["timed_out"]
        ok = complete and theirs / mine >= 2.0
        detail = f"{mine:.1f} s vs luigid {theirs:.1f} s ({theirs / mine:.2f}x faster; need >=2x)"
        if not complete:
            detail += "; our run did not complete"
        if args.db != "postgres":
            detail += f"; measured on {args.db}, the target is for PostgreSQL"
    out.append((f"{args.dag_tasks:,}-task DAG run >=2x faster than luigid", verdict(ok), detail))

    ok, detail = None, "luigid skipped" if luigid is None else "not measured"
    mine = _get(ours.memory, "after_get_work", "rss_kb")
    theirs = _get(luigid.memory if luigid else {}, "after_get_work", "rss_kb")
    if mine and theirs:
        ok = mine < theirs / 3
        detail = (
            f"{mine / 1024:.1f} MiB vs luigid {theirs / 1024:.1f} MiB "
            f"({mine / theirs:.2f}x; need <0.33x; server process only, database server excluded)"
        )
    out.append((f"server memory @{largest:,} tasks < 1/3 of luigid's", verdict(ok), detail))
    return out


def code_version() -> str:
    """The commit our server ran from, flagged when its code had uncommitted changes."""
    repo = BENCH_DIR.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "scheduler", "pipelines_project"],
            cwd=repo,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}{' + uncommitted changes in scheduler/' if dirty else ''}"


def print_report(results: dict[str, ServerResult], args) -> None:
    print()
    print(
        f"Our server's code: commit {args.code_version}, run by {args.server_python}; "
        f"luigi {luigi_version()}; "
        f"load average at start {args.load_start}, at end {load_average()} "
        f"({os.cpu_count()} CPUs)"
    )
    print(
        f"Scheduler benchmark: ours on {args.db}; {args.add_task_samples} sequential add_task; "
        f"get_work at {','.join(map(str, args.size_list))} pending, up to "
        f"{args.get_work_samples} samples per size (+{args.warmup} warm-up, "
        f"{args.get_work_budget:.0f}s budget); {args.read_samples} read samples; "
        f"DAG of {args.dag_tasks} tasks run by {args.workers} `luigi` processes, "
        "each --workers 1"
    )
    print("Latencies are client-side HTTP round trips over loopback; each server measured alone.")
    print()
    table = build_rows(results, args)
    headers = ("metric", "luigid", "ours", "ours/luigid")
    widths = [max(len(r[i]) for r in [headers, *table]) for i in range(4)]
    line = "  ".join(
        h.ljust(widths[i]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(headers)
    )
    print(line)
    print("-" * len(line))
    for row in table:
        print(
            "  ".join(
                c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)
            )
        )
    print()
    for label in ("luigid", "ours"):
        res = results.get(label)
        if res is None:
            continue
        details = []
        for size, gw in res.get_work.items():
            details.append(f"get_work @{size}: n_pending_tasks reported {gw['n_pending_reported']}")
        if res.reads:
            details.append(
                "reads returned "
                + ", ".join(f"{m}={r['tasks_returned']} tasks" for m, r in res.reads.items())
            )
        if res.dag:
            d = res.dag
            details.append(
                f"DAG: {d['outputs']}/{d['tasks']} outputs, tasks per process "
                f"{d['tasks_per_process']}, exit codes {d['exit_codes']}, "
                f"RPC retries {d['rpc_retries']}"
            )
        details.extend(f"{k}: {v}" for k, v in res.info.items() if not k.startswith("pid_"))
        print(f"{label}: " + "; ".join(details))
    print()
    print("Targets")
    for name, verdict, detail in targets(results, args):
        print(f"  [{verdict:^7}] {name}: {detail}")
    problems = False
    for label in ("luigid", "ours"):
        res = results.get(label)
        if res is None or not (res.anomalies or res.evidence or res.log_problems):
            continue
        problems = True
        print()
        print(f"Problems seen with {label}:")
        for item in res.anomalies:
            print(f"  - {item}")
        if res.evidence:
            print("  Evidence (failed or wrong calls, server state):")
            for item in res.evidence:
                print(item)
        if res.log_problems:
            print("  Server log:")
            for item in res.log_problems:
                print(f"  {item}")
    if not problems:
        print()
        print("No errors, wrong replies or server log warnings were seen.")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db",
        choices=["postgres", "sqlite"],
        default="postgres",
        help="database for our scheduler (default postgres)",
    )
    parser.add_argument(
        "--pg-url",
        default="postgres://postgres@127.0.0.1:5432",
        help="PostgreSQL server URL without a database name",
    )
    parser.add_argument(
        "--sizes",
        default="1000,10000,50000",
        help="pending-task counts for get_work, ascending (default %(default)s)",
    )
    parser.add_argument(
        "--dag-tasks", type=int, default=5000, help="tasks in the DAG run (default %(default)s)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=4,
        help="luigi worker processes for the DAG run (default %(default)s)",
    )
    parser.add_argument(
        "--get-work-samples",
        type=int,
        default=150,
        help="timed get_work calls per size (default %(default)s)",
    )
    parser.add_argument(
        "--get-work-budget",
        type=float,
        default=120.0,
        help="seconds per size after which get_work sampling stops early, once 20 samples "
        "are in (default %(default)s)",
    )
    parser.add_argument(
        "--add-task-samples",
        type=int,
        default=2000,
        help="sequential timed add_task calls on the fresh server (default %(default)s); "
        "the rest of the tasks are registered untimed by --fill-concurrency clients",
    )
    parser.add_argument(
        "--fill-concurrency",
        type=int,
        default=4,
        help="concurrent clients registering the untimed pending tasks (default %(default)s)",
    )
    parser.add_argument(
        "--read-budget",
        type=float,
        default=60.0,
        help="seconds after which task_list/graph sampling stops early (default %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=5,
        help="untimed get_work calls before each size (default %(default)s)",
    )
    parser.add_argument(
        "--read-samples",
        type=int,
        default=3,
        help="timed task_list/graph calls (default %(default)s)",
    )
    parser.add_argument(
        "--dag-timeout",
        type=float,
        default=1800.0,
        help="seconds before the DAG run is abandoned (default %(default)s)",
    )
    parser.add_argument(
        "--server-python",
        metavar="PATH",
        default=sys.executable,
        help="interpreter for our server (default: this one). For memory as deployed, "
        "a production install without the test extras, whose tools (requests, pygments) "
        "the REST framework imports when it finds them: python -m venv ~/prod-venv && "
        "~/prod-venv/bin/pip install . (the server's code still comes from this checkout)",
    )
    parser.add_argument("--skip-luigid", action="store_true", help="measure only our server")
    parser.add_argument("--skip-dag", action="store_true", help="leave out the DAG run")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small smoke run: sizes 200,1000, 30 samples, 300-task DAG",
    )
    parser.add_argument(
        "--keep-workdir",
        action="store_true",
        help="keep logs and outputs (kept anyway when something went wrong)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        quick = {
            "sizes": "200,1000",
            "dag_tasks": 300,
            "get_work_samples": 30,
            "add_task_samples": 500,
            "read_samples": 2,
            "dag_timeout": 300.0,
        }
        for key, value in quick.items():
            if getattr(args, key) == parser.get_default(key):  # explicit options win
                setattr(args, key, value)
    try:
        args.size_list = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error("--sizes takes comma-separated integers")
    if not args.size_list or args.size_list[0] <= 0:
        parser.error("--sizes needs positive integers")
    if args.dag_tasks < 3 or args.workers < 1:
        parser.error("--dag-tasks must be >= 3 and --workers >= 1")
    return args


def modified_since(started: float) -> list[str]:
    """Source files of our server changed after `started` (wall-clock seconds)."""
    repo = BENCH_DIR.parent
    changed = []
    for folder in ("scheduler", "pipelines_project"):
        for path in (repo / folder).rglob("*.py"):
            try:
                if path.stat().st_mtime > started:
                    changed.append(str(path.relative_to(repo)))
            except OSError:
                continue
    return sorted(changed)


def load_average() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def luigi_version() -> str:
    try:
        from importlib.metadata import version

        return version("luigi")
    except Exception:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    OurServer.python = args.server_python
    args.code_version = code_version()
    args.load_start = load_average()
    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="scheduler-bench-"))
    log(f"work directory {workdir}")
    results: dict[str, ServerResult] = {}
    try:
        kinds = ["ours"] if args.skip_luigid else ["luigid", "ours"]
        for kind in kinds:
            results[kind] = run_server(kind, args, workdir)
    except KeyboardInterrupt:
        log("interrupted; servers were stopped")
        print(f"logs kept in {workdir}", file=sys.stderr)
        return 130
    print_report(results, args)
    changed = modified_since(started)
    if changed:
        print(
            "\nWARNING: our server's source changed while the benchmark ran "
            f"({', '.join(changed[:8])}); the numbers may mix code versions."
        )
    if args.json:
        payload = {
            "args": {k: v for k, v in vars(args).items()},
            "results": {k: v.__dict__ for k, v in results.items()},
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str))
    troubled = any(r.anomalies or r.evidence or r.log_problems for r in results.values())
    if args.keep_workdir or troubled:
        print(f"\nLogs and outputs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

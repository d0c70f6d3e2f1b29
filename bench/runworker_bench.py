"""Benchmark ``manage.py runworker`` against Luigi's own workers, in the same run.

    .venv/bin/python bench/runworker_bench.py                    # 5,000 tasks, PostgreSQL
    .venv/bin/python bench/runworker_bench.py --tasks 500 --db sqlite

The same fan-in DAG (``BenchDagRoot`` -> groups -> leaves, each task writing a
tiny file with the pid that ran it) is run three ways, one after the other,
each on a fresh scheduler:

(a) ``--processes`` Luigi worker processes (``luigi --workers 1``) against luigid
    (``scheduler_bench.dag_phase``, shared with the scheduler benchmark);
(b) the same number of ``runworker --workers 1`` processes over HTTP
    (``--scheduler-url``) against this project's server (``manage.py runscheduler``);
(c) the same number of ``runworker --workers 1`` processes in direct database mode.

Wall time runs from starting the processes until all have exited. The targets:
(b) at least 2x and (c) at least 5x faster than (a). The tasks for (b) and (c)
are defined in this module (our API), mirroring ``bench/dag_tasks.py``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
OUT_ENV = "RUNWORKER_BENCH_OUT"

if __name__ != "__main__" and os.environ.get(OUT_ENV):
    # Imported by runworker (--module runworker_bench): define the tasks.
    from workers import IntParameter, LocalTarget, Task

    def _target(*parts: str) -> LocalTarget:
        return LocalTarget(os.path.join(os.environ[OUT_ENV], *parts))

    class _WritesPid(Task):
        def run(self) -> None:
            with self.output().open("w") as handle:
                handle.write(f"{os.getpid()}\n")

    class BenchDagLeaf(_WritesPid):
        idx = IntParameter()
        group = IntParameter()

        def output(self) -> LocalTarget:
            return _target(f"g{self.group}", f"leaf-{self.idx}.txt")

    class BenchDagGroup(_WritesPid):
        group = IntParameter()
        n_tasks = IntParameter()
        n_groups = IntParameter()

        def requires(self) -> list[Task]:
            n_leaves = self.n_tasks - 1 - self.n_groups
            return [
                BenchDagLeaf(idx=idx, group=self.group)
                for idx in range(self.group, n_leaves, self.n_groups)
            ]

        def output(self) -> LocalTarget:
            return _target(f"group-{self.group}.txt")

    class BenchDagRoot(_WritesPid):
        n_tasks = IntParameter(default=5000)
        n_groups = IntParameter(default=50)

        def requires(self) -> list[Task]:
            return [
                BenchDagGroup(group=g, n_tasks=self.n_tasks, n_groups=self.n_groups)
                for g in range(self.n_groups)
            ]

        def output(self) -> LocalTarget:
            return _target("root.txt")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_ours(
    label: str, args: argparse.Namespace, workdir: Path, database_url: str, url: str | None
) -> dict:
    """``args.processes`` runworker processes on the DAG; wall time and checks."""
    n_tasks = args.tasks
    n_groups = max(1, min(50, n_tasks // 100))
    out_dir = workdir / f"dag-out-{label}"
    out_dir.mkdir(parents=True)
    env = dict(os.environ)
    env.update(
        {
            OUT_ENV: str(out_dir),
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH_DIR), env.get("PYTHONPATH")])),
        }
    )
    command = [
        sys.executable,
        "manage.py",
        "runworker",
        "--module",
        "runworker_bench",
        "BenchDagRoot",
        "--n-tasks",
        str(n_tasks),
        "--n-groups",
        str(n_groups),
        "--workers",
        "1",
        "--keep-alive",
        "--wait-interval",
        "0.1",
        "--ping-interval",
        "5",
        "--no-lock",
    ]
    if url:
        command += ["--scheduler-url", url]
    log(f"{label}: DAG of {n_tasks} tasks, {args.processes} runworker processes")
    logs = [workdir / f"runworker-{label}-{i}.log" for i in range(args.processes)]
    start = time.perf_counter()
    procs = []
    for path in logs:
        with path.open("wb") as handle:
            procs.append(
                subprocess.Popen(
                    command, cwd=REPO_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
                )
            )
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(args.timeout))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(proc.wait())
    wall = time.perf_counter() - start
    files = list(out_dir.rglob("*.txt"))
    anomalies = []
    if len(files) != n_tasks:
        anomalies.append(f"{len(files)} outputs of {n_tasks}")
    if any(codes):
        anomalies.append(f"exit codes {codes} (logs in {workdir})")
    log(f"{label}: wall {wall:.1f}s, {len(files) / wall:.1f} tasks/s")
    return {"wall_s": wall, "tasks_per_s": len(files) / wall, "anomalies": anomalies}


def run_luigi(args: argparse.Namespace, workdir: Path) -> dict:
    from bench_servers import LuigidServer
    from scheduler_bench import ServerResult, dag_phase

    server = LuigidServer(workdir, "a")
    result = ServerResult(label="luigid")
    try:
        server.start()
        options = SimpleNamespace(
            dag_tasks=args.tasks, workers=args.processes, dag_timeout=args.timeout
        )
        dag_phase(server, options, workdir, result)
    finally:
        server.stop()
    return {
        "wall_s": result.dag.get("wall_s"),
        "tasks_per_s": result.dag.get("tasks_per_s"),
        "anomalies": result.anomalies,
    }


def run_with_our_server(args: argparse.Namespace, workdir: Path, mode: str) -> dict:
    from bench_servers import OurServer

    server = OurServer(workdir, mode, args.db, args.pg_url)
    try:
        server.start()
        if args.db == "postgres":
            database_url = f"{server.pg_url}/{server.db_name}"
        else:
            database_url = f"sqlite:///{server.sqlite_path}"
        url = server.url if mode == "b" else None
        label = "runworker-http" if mode == "b" else "runworker-direct"
        return run_ours(label, args, workdir, database_url, url)
    finally:
        server.stop()
        server.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--skip-luigi", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BENCH_DIR))
    workdir = Path(tempfile.mkdtemp(prefix="runworker-bench-"))
    log(f"work directory {workdir}")
    results = {}
    if not args.skip_luigi:
        results["(a) luigi workers -> luigid"] = run_luigi(args, workdir)
    results["(b) runworker -> our server (HTTP)"] = run_with_our_server(args, workdir, "b")
    results["(c) runworker direct (database)"] = run_with_our_server(args, workdir, "c")

    base = results.get("(a) luigi workers -> luigid", {}).get("wall_s")
    print(f"\n{args.tasks} trivial tasks, {args.processes} worker processes, db={args.db}")
    print(f"{'run':40} {'wall s':>8} {'tasks/s':>8} {'vs (a)':>7}")
    for label, data in results.items():
        wall = data.get("wall_s") or float("nan")
        speedup = f"{base / wall:.1f}x" if base and wall == wall else "n/a"
        print(f"{label:40} {wall:8.1f} {data.get('tasks_per_s') or 0:8.1f} {speedup:>7}")
        for anomaly in data.get("anomalies", []):
            print(f"    ! {anomaly}")
    if base:
        b = results["(b) runworker -> our server (HTTP)"]["wall_s"]
        c = results["(c) runworker direct (database)"]["wall_s"]
        print(f"target (b) >= 2x faster than (a): {'MET' if base / b >= 2 else 'NOT MET'}")
        print(f"target (c) >= 5x faster than (a): {'MET' if base / c >= 5 else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Latency of the REST API's list endpoints with many tasks in the database.

Run on demand (not part of the test suite):

    .venv/bin/python bench/api_bench.py                       # 100,000 tasks on PostgreSQL
    .venv/bin/python bench/api_bench.py --db sqlite --tasks 20000

It creates a fresh database (PostgreSQL: ``bench_api_<random>`` on the server of
``--pg-url``, dropped at the end; SQLite: a file in a temp directory), migrates it,
bulk-inserts the tasks (no service calls: this measures reads, not registration),
then times each endpoint in process through Django's test client (views, queries
and JSON rendering; no HTTP socket) and prints p50 and p95 in milliseconds.

The data: pipelines of 10 tasks (each task requires the previous one), 50
families, parameters day and part; about 85% DONE, 8% PENDING, 2% RUNNING, 2%
FAILED (each failure blocks the PENDING rest of its pipeline: UPSTREAM_FAILED),
1% DISABLED, the rest UNKNOWN; last changes spread over 30 days; 20 workers.
There is no luigid figure: Luigi has no REST API.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = time.time()
DAY = 86400.0
FAMILIES = [f"Family{i:02d}" for i in range(50)]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(fraction * len(ordered)) - 1)]


def create_database(args: argparse.Namespace) -> tuple[str, callable]:
    if args.db == "sqlite":
        directory = tempfile.mkdtemp(prefix="bench_api_")
        return f"sqlite:///{directory}/bench.sqlite3", lambda: None
    import psycopg

    name = f"bench_api_{uuid.uuid4().hex[:8]}"
    admin = f"{args.pg_url.rstrip('/')}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{args.pg_url.rstrip('/')}/{name}", drop


def pick_status(position: int, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.85:
        return "DONE"
    if roll < 0.93:
        return "PENDING"
    if roll < 0.95:
        return "RUNNING"
    if roll < 0.97:
        return "FAILED"
    if roll < 0.98:
        return "DISABLED"
    return "UNKNOWN" if position else "PENDING"


def fill(n_tasks: int, seed: int) -> None:
    from scheduler.models import Dependency, RunnableBy, Task, Worker

    rng = random.Random(seed)
    workers = [
        Worker(
            worker_id=f"Worker(host=box{i}, pid={1000 + i})",
            host=f"box{i}",
            info={"host": f"box{i}", "pid": 1000 + i, "username": "bench", "workers": 4},
            started=NOW - 30 * DAY,
            last_active=NOW - rng.uniform(0, 120),
        )
        for i in range(20)
    ]
    Worker.objects.bulk_create(workers)
    tasks, deps, links = [], [], []
    for i in range(n_tasks):
        pipeline, position = divmod(i, 10)
        family = FAMILIES[pipeline % len(FAMILIES)]
        params = {"day": f"2024-{1 + pipeline % 12:02d}-{1 + pipeline % 28:02d}", "part": str(i)}
        task_id = f"{family}_{pipeline}_{position}_{uuid.UUID(int=rng.getrandbits(128)).hex[:10]}"
        status = pick_status(position, rng)
        worker = workers[pipeline % len(workers)].worker_id
        updated = NOW - rng.uniform(0, 30 * DAY)
        tasks.append(
            Task(
                task_id=task_id,
                family=family,
                display_name=f"{family}(day={params['day']}, part={params['part']})",
                params=params,
                status=status,
                priority=rng.choice([0, 0, 0, 10, 100]),
                time=updated - rng.uniform(0, DAY),
                updated=updated,
                worker_running=worker if status == "RUNNING" else None,
                time_running=updated if status == "RUNNING" else None,
                resources={"db": 1} if status == "RUNNING" and position % 2 else {},
                has_resources=status == "RUNNING" and bool(position % 2),
                resources_running={"db": 1} if status == "RUNNING" and position % 2 else None,
                failures=[updated] if status == "FAILED" else [],
                n_workers=1,
                last_worker=worker,
            )
        )
        if position:
            deps.append(Dependency(task_id=task_id, dep_id=tasks[-2].task_id))
        if status in ("PENDING", "RUNNING", "FAILED"):
            links.append(RunnableBy(task_id=task_id, worker_id=worker))
    for start in range(0, len(tasks), 5000):
        Task.objects.bulk_create(tasks[start : start + 5000])
    Dependency.objects.bulk_create(deps, batch_size=5000)
    RunnableBy.objects.bulk_create(links, batch_size=5000)


def cases(client) -> list[tuple[str, str, dict]]:
    from scheduler.models import Task

    sample = Task.objects.filter(status="FAILED").order_by("task_id").first()
    yesterday = NOW - DAY
    return [
        ("tasks (default: newest change first)", "/api/v1/tasks/", {}),
        ("tasks ?status=FAILED", "/api/v1/tasks/", {"status": "FAILED"}),
        ("tasks ?status=PENDING", "/api/v1/tasks/", {"status": "PENDING"}),
        ("tasks ?status=UPSTREAM_FAILED", "/api/v1/tasks/", {"status": "UPSTREAM_FAILED"}),
        ("tasks ?status=RUNNING,FAILED", "/api/v1/tasks/", {"status": "RUNNING,FAILED"}),
        ("tasks ?family=F", "/api/v1/tasks/", {"family": "Family07"}),
        ("tasks ?search=<family> <day>", "/api/v1/tasks/", {"search": "family07 2024-08-08"}),
        ("tasks ?search=<rare word>", "/api/v1/tasks/", {"search": "part=4242)"}),
        ("tasks ?updated_after=<1 day ago>", "/api/v1/tasks/", {"updated_after": yesterday}),
        ("tasks ?ordering=name", "/api/v1/tasks/", {"ordering": "name"}),
        ("tasks ?ordering=-priority", "/api/v1/tasks/", {"ordering": "-priority"}),
        ("tasks ?ordering=status", "/api/v1/tasks/", {"ordering": "status"}),
        ("tasks page 100", "/api/v1/tasks/", {"page": 100}),
        ("tasks ?page_size=500", "/api/v1/tasks/", {"page_size": 500}),
        ("tasks/counts/", "/api/v1/tasks/counts/", {}),
        ("tasks/counts/ ?family=F", "/api/v1/tasks/counts/", {"family": "Family07"}),
        ("tasks/<id>/ (detail)", f"/api/v1/tasks/{sample.task_id}/", {}),
        (
            "tasks/<id>/graph/?direction=both",
            f"/api/v1/tasks/{sample.task_id}/graph/",
            {"direction": "both"},
        ),
        ("workers", "/api/v1/workers/", {}),
        ("resources", "/api/v1/resources/", {}),
    ]


def measure(samples: int) -> list[tuple[str, float, float, int]]:
    from django.test import Client

    client = Client()
    results = []
    for label, url, params in cases(client):
        for _ in range(2):  # warm up
            response = client.get(url, params)
            assert response.status_code == 200, (url, response.content[:300])
        timings = []
        for _ in range(samples):
            start = time.perf_counter()
            response = client.get(url, params)
            timings.append((time.perf_counter() - start) * 1000)
        count = response.json().get("count", response.json().get("total", 0))
        results.append((label, statistics.median(timings), percentile(timings, 0.95), count))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the database; print its URL")
    parser.add_argument(
        "--existing", metavar="DATABASE_URL", help="measure a database kept by --keep (no fill)"
    )
    args = parser.parse_args()

    if args.existing:
        url, drop = args.existing, lambda: None
    else:
        url, drop = create_database(args)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipelines_project.settings")
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-only")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    settings.ALLOWED_HOSTS = ["testserver"]
    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        if not args.existing:
            fill(args.tasks, args.seed)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(
            f"{args.tasks} tasks on {connection.vendor} "
            f"(inserted in {time.perf_counter() - started:.1f} s); "
            f"{args.samples} samples per endpoint, in process",
            file=sys.stderr,
        )
        print(f"{'endpoint':46} {'p50 ms':>8} {'p95 ms':>8} {'count':>8}")
        for label, p50, p95, count in measure(args.samples):
            print(f"{label:46} {p50:8.1f} {p95:8.1f} {count:8d}")
    finally:
        if args.keep:
            print(f"kept: DATABASE_URL={url}", file=sys.stderr)
        else:
            drop()


if __name__ == "__main__":
    main()

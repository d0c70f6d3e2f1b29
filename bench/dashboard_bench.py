"""The dashboard's graph in headless Chromium: time to a usable graph, and frame rate
under a stream of status changes.

    .venv/bin/python bench/dashboard_bench.py                      # 500, 5,000, 20,000 tasks
    .venv/bin/python bench/dashboard_bench.py --sizes 5000 --rate 100 --seconds 10

A fresh SQLite database (or ``--database-url``, an empty migrated-on-start
database) gets one daily-style pipeline per size: ``Report`` needs one ``Load``
per day, each ``Load`` a ``Transform``, each ``Transform`` three ``Extract``
(its day's and, for the source's history, the previous day's). About 60% of the
tasks are DONE, 3% FAILED, the rest PENDING; they are registered through the
scheduler service (``add_task``), as a direct-mode worker does.
``manage.py runscheduler`` serves them on a free loopback port; Playwright drives
Debian's Chromium (/usr/bin/chromium).

Time to a usable graph: from navigation start of /task/graph/?id=<Report> until
the graph is laid out and drawn (the page marks itself ready on the frame after
cytoscape's first render). Reported with the part spent fetching the laid-out
graph (server: graph read + igraph layout + JSON), the layout alone measured
in-process, and the longest main-thread task (the tab must never freeze).
Above 5,000 nodes the page groups families (the message says so).

Frame rate: while ``--rate`` status changes per second (FAILED <-> PENDING of the
graph's tasks, through the service, committed one by one) arrive over the
WebSocket, frames are counted with requestAnimationFrame for ``--seconds`` on the
5,000-task graph and on the task table; reported as frames per second and the
longest gap between frames. Luigi's visualiser has no equivalent that updates
itself, so there is no ratio to luigid here.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_servers import free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TARGET_MS = 3000  # a 5,000-task graph usable within 3 s


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data


def pipeline(size: int, tag: str) -> list[dict]:
    """add_task payloads of one pipeline of ``size`` tasks, dependencies first."""
    tasks: list[dict] = []
    days = max(1, (size - 1) // 5)
    worker = f"bench-{tag}"

    def add(family: str, params: dict, deps: list[str], status: str) -> str:
        task_id = f"{family}_{tag}_" + "_".join(str(v) for v in params.values())
        tasks.append(
            {
                "task_id": task_id,
                "worker": worker,
                "family": family,
                "params": params,
                "deps": deps,
                "status": status,
            }
        )
        return task_id

    loads = []
    for day in range(days):
        extracts = [
            add("Extract", {"day": day, "source": s}, [], status_for(len(tasks), day, days))
            for s in ("orders", "customers", "stock")
        ]
        previous = [f"Extract_{tag}_{day - 1}_{s}" for s in ("orders", "customers")] if day else []
        transform = add("Transform", {"day": day}, extracts + previous, status_for(0, day, days))
        loads.append(add("Load", {"day": day}, [transform], status_for(1, day, days)))
    add("Report", {"size": size}, loads, "PENDING")
    return tasks


def status_for(index: int, day: int, days: int) -> str:
    if day < days * 0.6:
        return "FAILED" if index % 37 == 5 else "DONE"
    return "PENDING"


def seed(sizes: list[int]) -> dict[int, str]:
    from workers.client import DirectClient

    roots = {}
    client = DirectClient()
    for size in sizes:
        started = time.perf_counter()
        payloads = pipeline(size, f"s{size}")
        client.add_tasks(payloads)
        roots[size] = payloads[-1]["task_id"]
        log(f"registered {len(payloads)} tasks in {time.perf_counter() - started:.1f} s")
    client.close()
    return roots


def layout_only(root: str) -> tuple[int, float]:
    from scheduler.service import Ctx
    from visualiser import graph
    from visualiser.layout import layered

    g = graph.collect(Ctx.make(), root, "both")
    if len(g.nodes) > graph.GROUP_ABOVE:
        graph.group_families(g)
    started = time.perf_counter()
    layered(list(g.nodes), sorted(g.edges))
    return len(g.nodes), (time.perf_counter() - started) * 1000


# --------------------------------------------------------------------------- browser

LONG_TASKS = """
window.__longest = 0;
new PerformanceObserver(list => {
  for (const e of list.getEntries()) window.__longest = Math.max(window.__longest, e.duration);
}).observe({type: 'longtask', buffered: true});
"""

COUNT_FRAMES = """
seconds => new Promise(resolve => {
  const times = [];
  const end = performance.now() + seconds * 1000;
  function frame(now) {
    times.push(now);
    if (now < end) requestAnimationFrame(frame);
    else {
      let worst = 0;
      for (let i = 1; i < times.length; i++) worst = Math.max(worst, times[i] - times[i - 1]);
      resolve({frames: times.length, span: times[times.length - 1] - times[0], worst});
    }
  }
  requestAnimationFrame(frame);
})
"""


def time_to_graph(browser, url: str) -> dict:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(LONG_TASKS)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#graph[data-state='ready']", timeout=120000)
    result = page.evaluate(
        """() => { const g = document.querySelector('#graph');
          return {usable: performance.now(), fetch: +g.dataset.fetchMs,
                  build: +g.dataset.buildMs, ready: +g.dataset.readyMs,
                  nodes: +g.dataset.nodes, longest: window.__longest,
                  message: document.querySelector('#graph-message').textContent}; }"""
    )
    context.close()
    return result


def change_statuses(task_ids: list[str], rate: float, stop: threading.Event, made: list) -> None:
    from django.db import connections

    from scheduler import rpc

    interval = 1.0 / rate
    start = time.monotonic()
    n = 0
    try:
        while not stop.is_set():
            pause = start + n * interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            task_id = task_ids[(n // 2) % len(task_ids)]
            status = "FAILED" if n % 2 == 0 else "PENDING"
            rpc.call("add_task", {"task_id": task_id, "worker": "bench-changes", "status": status})
            n += 1
        made.append((n, time.monotonic() - start))
    finally:
        connections.close_all()


def frame_rate(browser, url: str, ready: str, task_ids: list[str], rate: float, seconds: float):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector(ready, timeout=120000)
    page.wait_for_selector("#live[data-state='live']", timeout=30000)
    stop, made = threading.Event(), []
    producer = threading.Thread(target=change_statuses, args=(task_ids, rate, stop, made))
    producer.start()
    try:
        time.sleep(1.0)  # let the stream settle
        frames = page.evaluate(COUNT_FRAMES, seconds)
    finally:
        stop.set()
        producer.join()
    context.close()
    changes, span = made[0]
    return {
        "fps": frames["frames"] / (frames["span"] / 1000),
        "worst_ms": frames["worst"],
        "rate": changes / span,
    }


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="500,5000,20000")
    parser.add_argument("--rate", type=float, default=100.0, help="status changes per second")
    parser.add_argument("--seconds", type=float, default=5.0, help="frame counting time")
    parser.add_argument("--database-url", default="", help="an empty database (default: SQLite)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    db_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
    env.update({"DATABASE_URL": db_url, "DEBUG": "false", "LOG_LEVEL": "WARNING"})
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    env.pop("REDIS_URL", None)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipelines_project.settings")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    import django

    django.setup()
    roots = seed(sizes)

    # In-process reads before Playwright starts (its event loop would refuse the ORM).
    layouts = {size: layout_only(roots[size])[1] for size in sizes}
    from scheduler.models import Task

    changing = 5000 if 5000 in roots else sizes[0]
    family_ids = list(
        Task.objects.filter(task_id__contains=f"_s{changing}_", family="Extract")
        .order_by("task_id")
        .values_list("task_id", flat=True)[:200]
    )
    from django.db import connections

    connections.close_all()

    port = free_port()
    server_log = (workdir / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runscheduler", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import requests

        for _ in range(300):
            try:
                requests.head(base + "/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            print("Time to a usable graph (headless Chromium, median of 3 loads)")
            print(
                f"{'tasks':>7} {'drawn':>6} {'usable ms':>10} {'fetch ms':>9} "
                f"{'layout ms':>10} {'build ms':>9} {'longest task ms':>16}  note"
            )
            for size in sizes:
                url = f"{base}/task/graph/?id={quote(roots[size])}"
                runs = sorted(
                    (time_to_graph(browser, url) for _ in range(3)), key=lambda r: r["usable"]
                )
                median = runs[1]
                layout_ms = layouts[size]
                flag = ""
                if size <= 5000:
                    ok = median["usable"] <= TARGET_MS
                    flag = f"target {TARGET_MS} ms {'met' if ok else 'MISSED'}"
                note = "; ".join(x for x in (flag, median["message"][:60]) if x)
                print(
                    f"{size:>7} {median['nodes']:>6} {median['usable']:>10.0f} "
                    f"{median['fetch']:>9.0f} {layout_ms:>10.1f} {median['build']:>9.0f} "
                    f"{median['longest']:>16.0f}  {note}"
                )
            total = sum(len(pipeline(size, "x")) for size in sizes)
            loads = []
            for _ in range(3):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.goto(base + "/")
                page.wait_for_selector("body[data-loaded='true']", timeout=120000)
                loads.append(page.evaluate("() => performance.now()"))
                context.close()
            median_ms = sorted(loads)[1]
            print(f"\nTask table, first page of {total:,} tasks shown: {median_ms:.0f} ms")
            print(f"\nFrame rate while {args.rate:.0f} status changes/s arrive")
            print(f"{'view':>22} {'fps':>6} {'worst frame ms':>15} {'changes/s':>10}")
            size = changing
            views = [
                (
                    f"graph of {size:,} tasks",
                    f"/task/graph/?id={quote(roots[size])}",
                    "#graph[data-state='ready']",
                ),
                ("task table", "/", "body[data-loaded='true']"),
            ]
            for name, path, ready in views:
                result = frame_rate(
                    browser, base + path, ready, family_ids, args.rate, args.seconds
                )
                print(
                    f"{name:>22} {result['fps']:>6.1f} {result['worst_ms']:>15.0f} "
                    f"{result['rate']:>10.1f}"
                )
            browser.close()
    finally:
        server.terminate()
        server.wait(15)
        server_log.close()
        if not args.database_url:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

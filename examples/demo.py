"""The demo behind ``make run``: a scheduler server, the example pipeline run against it.

    python examples/demo.py --host 127.0.0.1 --port 8082

Starts the scheduler (``manage.py runscheduler``), waits until
it answers, runs ``examples.daily.DailyReport`` for yesterday with
``manage.py runworker --scheduler-url`` (Luigi's HTTP protocol), prints where to
look, and keeps the server in the foreground until Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wait_until_serving(url: str, server: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the scheduler server exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}api/is_paused", timeout=2) as reply:
                json.load(reply)
                return
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(0.2)
    raise SystemExit(f"the scheduler server did not answer at {url} within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--date", default=f"{datetime.date.today() - datetime.timedelta(days=1)}")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--no-wait", action="store_true", help="stop the server after the run (no Ctrl-C wait)"
    )
    args = parser.parse_args(argv)

    url = f"http://{args.host}:{args.port}/"
    env = dict(os.environ)
    env.setdefault("PIPELINES_DATA_DIR", str(ROOT / "var" / "data"))
    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "runscheduler",
            "--address",
            args.host,
            "--port",
            str(args.port),
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_until_serving(url, server)
        print(f"scheduler serving at {url}", flush=True)
        run = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "runworker",
                "--module",
                "examples.daily",
                "DailyReport",
                "--date",
                args.date,
                "--days",
                str(args.days),
                "--workers",
                str(args.workers),
                "--scheduler-url",
                url,
            ],
            cwd=ROOT,
            env=env,
            check=False,
        )
        print(
            f"\nrunworker exited with code {run.returncode}.\n"
            f"  scheduler:      {url}\n"
            f"  tasks (JSON):   {url}api/task_list\n"
            f"  data directory: {env['PIPELINES_DATA_DIR']}\n"
            f"  run it again:   .venv/bin/python manage.py runworker --module examples.daily "
            f"DailyReport --date {args.date} --scheduler-url {url}\n",
            flush=True,
        )
        if args.no_wait:
            return run.returncode
        print("The scheduler keeps running; press Ctrl-C to stop it.", flush=True)
        try:
            server.wait()
        except KeyboardInterrupt:
            print("\nstopping the scheduler", flush=True)
        return run.returncode
    finally:
        stop(server)


if __name__ == "__main__":
    sys.exit(main())

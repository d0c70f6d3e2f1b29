"""Start and stop the two schedulers under test, on free loopback ports.

- `LuigidServer`: the reference `luigid` from the installed luigi package, state in a
  temporary directory.
- `OurServer`: this project as `manage.py runscheduler` (daphne), on a fresh database (a
  new PostgreSQL database `bench_<random>` dropped afterwards, or a new SQLite file),
  migrated first.

Both write their log to a file in the bench work directory. Processes are stopped by
the PIDs this module started (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent  # the venv's bin/, without resolving symlinks


class ServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    """All descendants of pid (via /proc/<pid>/task/*/children)."""
    result: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        task_dir = Path(f"/proc/{current}/task")
        try:
            threads = list(task_dir.iterdir())
        except OSError:
            continue
        for thread in threads:
            try:
                text = (thread / "children").read_text()
            except OSError:
                continue
            for child in text.split():
                result.append(int(child))
                stack.append(int(child))
    return result


def _status_kb(pid: int, key: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def rss_kb(pid: int) -> dict[str, int]:
    """VmRSS of pid plus its descendants, and the summed peak (VmHWM)."""
    pids = [pid, *_children(pid)]
    return {
        "rss_kb": sum(_status_kb(p, "VmRSS") for p in pids),
        "hwm_kb": sum(_status_kb(p, "VmHWM") for p in pids),
        "processes": len(pids),
    }


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def cpu_seconds(pid: int) -> float:
    """User and system CPU time used so far by pid and its descendants."""
    return sum(_cpu_ticks(p) for p in [pid, *_children(pid)]) / _TICKS


def postgres_cpu_seconds() -> float:
    """CPU time used so far by this machine's PostgreSQL processes (server and
    backends) that are alive now; 0.0 where there are none (PostgreSQL elsewhere)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if not (entry / "comm").read_text().startswith("postgres"):
                continue
        except OSError:
            continue
        total += _cpu_ticks(int(entry.name))
    return total / _TICKS


def stop_pid(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """Stop a process this benchmark started: SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    children = _children(proc.pid)
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    for child in children:  # started by it, so ours; normally already gone
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    # Both servers get their defaults: no Luigi config from the caller's environment.
    env.pop("LUIGI_CONFIG_PATH", None)
    env.pop("LUIGI_CONFIG_PARSER", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d[ T][\d:,.]+ (?:\S+ )?(?:\S+ )?(ERROR|WARNING|CRITICAL)\b")
_LEVEL = re.compile(r"\b(ERROR|WARNING|CRITICAL)\b")
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d[ T][\d:,.]+ ")
_ACCESS_ERROR = re.compile(r'"(GET|POST|HEAD|OPTIONS|PUT|DELETE) (\S+)[^"]*" ([45]\d\d)\b')
_TORNADO_ERROR = re.compile(r"tornado\.access\S* (?:WARNING|ERROR): ([45]\d\d) (\S+) (\S+)")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Detected|Violation|Warning)\b.*")


def summarise_log(text: str, limit: int = 12) -> tuple[int, list[str]]:
    lines = text.splitlines()
    signatures: dict[str, int] = {}
    access: dict[str, int] = {}
    total = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        access_match = _ACCESS_ERROR.search(line) or _TORNADO_ERROR.search(line)
        if access_match and not _ENTRY.match(line):
            if _ACCESS_ERROR.search(line):
                key = (
                    f"HTTP {access_match.group(3)} {access_match.group(1)} {access_match.group(2)}"
                )
            else:
                key = (
                    f"HTTP {access_match.group(1)} {access_match.group(2)} {access_match.group(3)}"
                )
            access[key] = access.get(key, 0) + 1
            i += 1
            continue
        if not (_ENTRY.match(line) or (_TIMESTAMP.match(line) and _LEVEL.search(line))):
            i += 1
            continue
        total += 1
        header = _TIMESTAMP.sub("", line).strip()
        exception = ""
        frame = ""
        j = i + 1
        while (
            j < len(lines)
            and not _TIMESTAMP.match(lines[j])
            and not (_ACCESS_ERROR.search(lines[j]) or lines[j].startswith("127.0.0.1:"))
        ):
            body = lines[j]
            if body.startswith("  File ") and "/site-packages/" not in body:
                code = lines[j + 1].strip() if j + 1 < len(lines) else ""
                frame = f"{body.strip()}: {code}"
            elif _EXCEPTION_LINE.match(body) and not exception:
                exception = body.strip()
            j += 1
        signature = header[:200]
        if exception:
            signature += f"\n        exception: {exception[:300]}"
        if frame:
            signature += f"\n        at {frame[:300]}"
        signatures[signature] = signatures.get(signature, 0) + 1
        i = j
    summary = [
        f"{count}x {sig}" for sig, count in sorted(signatures.items(), key=lambda kv: -kv[1])
    ][:limit]
    summary += [f"{count}x {key}" for key, count in sorted(access.items(), key=lambda kv: -kv[1])][
        :limit
    ]
    return total + sum(access.values()), summary


class ConnectionSampler:
    """Samples a server's database connection count once a second in a thread."""

    def __init__(self, server: BaseServer) -> None:
        self.server = server
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                count = self.server.db_connections()
            except Exception:
                return
            if count is None:
                return
            self.peak = count if self.peak is None else max(self.peak, count)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class BaseServer:
    label = "server"

    def __init__(self, workdir: Path, tag: str) -> None:
        self.workdir = workdir
        self.tag = tag
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / f"{self.label}-{tag}.log"
        self._log_file = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _spawn(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=self._log_file, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise ServerError(
                    f"{self.label} exited with code {self.proc.returncode} during start-up; "
                    f"log tail:\n{self.log_tail()}"
                )
            try:
                resp = requests.post(f"{self.url}api/is_paused", data={"data": "{}"}, timeout=5)
                if resp.status_code == 200 and "response" in resp.json():
                    return
                last_error = f"HTTP {resp.status_code}: {resp.text[:300]}"
            except (requests.RequestException, ValueError) as exc:
                last_error = repr(exc)
            time.sleep(0.2)
        raise ServerError(f"{self.label} not ready after {timeout}s ({last_error})")

    def memory(self) -> dict[str, int]:
        return rss_kb(self.pid)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_problems(self, limit: int = 12) -> tuple[int, list[str]]:
        """Summarise the server log's errors: (number of problem entries, summary lines).

        Each ERROR/WARNING/CRITICAL entry is reduced to a signature (message, final
        exception line, innermost frame in this repository) and counted; HTTP 4xx/5xx
        access-log lines are counted per request line and status.
        """
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return 0, []
        return summarise_log(text, limit)

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def extra_info(self) -> dict[str, str]:
        return {}

    def db_connections(self) -> int | None:
        return None

    def cleanup(self) -> None:
        pass


class LuigidServer(BaseServer):
    label = "luigid"

    def start(self) -> None:
        state_dir = self.workdir / f"luigid-state-{self.tag}"
        state_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(BIN_DIR / "luigid"),
            "--address",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--state-path",
            str(state_dir / "state.pickle"),
        ]
        # cwd is the empty state dir, so no luigi.cfg from the current directory is read.
        self._spawn(argv, _server_env(), state_dir)
        self.wait_ready()


class OurServer(BaseServer):
    label = "ours"
    #: The interpreter that runs our server: this one (the development environment,
    #: with the test tools installed) unless a benchmark was told of another, e.g. a
    #: production install (`pip install .`, no test extras) with --server-python.
    python = sys.executable

    def __init__(self, workdir: Path, tag: str, db: str, pg_url: str) -> None:
        super().__init__(workdir, tag)
        self.db = db
        self.pg_url = pg_url.rstrip("/")
        self.db_name = ""
        self.sqlite_path: Path | None = None

    def _admin_connect(self):
        import psycopg

        return psycopg.connect(f"{self.pg_url}/postgres", autocommit=True)

    def _create_database(self) -> str:
        if self.db == "postgres":
            self.db_name = f"bench_{secrets.token_hex(4)}"
            with self._admin_connect() as conn:
                conn.execute(f'CREATE DATABASE "{self.db_name}"')
            return f"{self.pg_url}/{self.db_name}"
        self.sqlite_path = self.workdir / f"ours-{self.tag}.sqlite3"
        return f"sqlite:///{self.sqlite_path}"

    def start(self) -> None:
        database_url = self._create_database()
        env = _server_env()
        env["DATABASE_URL"] = database_url
        env["DEBUG"] = "false"  # DEBUG keeps every SQL query in memory
        if not env.get("SECRET_KEY") and not (REPO_ROOT / ".env").exists():
            env["SECRET_KEY"] = secrets.token_urlsafe(50)
        with open(self.log_path, "ab") as log:
            migrate = subprocess.run(
                [self.python, "manage.py", "migrate", "--noinput"],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if migrate.returncode != 0:
            raise ServerError(f"migrate failed (code {migrate.returncode}); see {self.log_path}")
        # As deployed: runscheduler (daphne without an access log, the maintenance timer).
        argv = [self.python, "manage.py", "runscheduler", "--port", str(self.port)]
        self._spawn(argv, env, REPO_ROOT)
        self.wait_ready()

    def extra_info(self) -> dict[str, str]:
        try:
            if self.db == "postgres" and self.db_name:
                with self._admin_connect() as conn:
                    size = conn.execute("SELECT pg_database_size(%s)", (self.db_name,)).fetchone()[
                        0
                    ]
                return {"database": f"postgres {self.db_name}", "db_size_kb": str(size // 1024)}
            if self.sqlite_path is not None:
                size = sum(
                    p.stat().st_size
                    for p in self.sqlite_path.parent.glob(self.sqlite_path.name + "*")
                )
                return {"database": f"sqlite {self.sqlite_path}", "db_size_kb": str(size // 1024)}
        except Exception as exc:  # informational only
            return {"database": f"size unavailable: {exc!r}"}
        return {}

    def db_connections(self) -> int | None:
        """Open PostgreSQL connections to this server's database (None on SQLite)."""
        if self.db != "postgres" or not self.db_name:
            return None
        with self._admin_connect() as conn:
            return conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.db_name,)
            ).fetchone()[0]

    def cleanup(self) -> None:
        if self.db == "postgres" and self.db_name:
            with self._admin_connect() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            self.db_name = ""

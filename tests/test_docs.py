"""docs/deployment.md: every command in its ``sh`` blocks is run or checked here.

The commands are taken from the document itself, so the docs and the tests cannot
drift apart: a new command without a check here fails
``test_every_documented_command_is_exercised``. They run from the repository
root against a scratch database (a PostgreSQL database of its own when the suite
runs on PostgreSQL, else an SQLite file), with ``.venv/bin/python`` standing for
this interpreter. The systemd units are checked with ``systemd-analyze verify``.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.live.harness import _clean_env, free_port

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "deployment.md"
UNITS = ROOT / "docs" / "systemd"
PG_ADMIN = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]

pytestmark = pytest.mark.live


def blocks(language: str) -> list[str]:
    text = DOC.read_text()
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def commands() -> list[str]:
    return [
        line.strip()
        for block in blocks("sh")
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def command(prefix: str) -> str:
    found = list(dict.fromkeys(c for c in commands() if c.startswith(prefix)))
    assert len(found) == 1, f"expected one documented command starting {prefix!r}: {found}"
    return found[0]


# Every documented command, and the test (or script) that exercises it.
EXERCISED = {
    r"sudo -u postgres (createuser|createdb) .*": "test_postgres_role_and_database",
    r"python3 -m venv \.venv": "test_install_commands_are_the_makefiles",
    r"\.venv/bin/pip install (--upgrade )?\.": "test_install_commands_are_the_makefiles",
    r"\.venv/bin/python manage\.py migrate .*": "test_migrate_check_and_superuser",
    r"\.venv/bin/python manage\.py check --deploy": "test_migrate_check_and_superuser",
    r"DJANGO_SUPERUSER_PASSWORD=.* createsuperuser .*": "test_migrate_check_and_superuser",
    r"\.venv/bin/python manage\.py (runscheduler|qcluster|runworker)\b.*": "test_the_processes",
    r"sudo (cp|systemctl) .*": "test_systemd_units",
    r"(pg_dump|pg_restore) .*": "test_postgres_backup_round_trip",
    r"sqlite3 .*": "test_sqlite_backup",
}


def test_every_documented_command_is_exercised():
    found = commands()
    assert len(found) >= 15
    for line in found:
        assert any(re.fullmatch(pattern, line) for pattern in EXERCISED), (
            f"the documented command {line!r} is not exercised by tests/test_docs.py"
        )


def test_the_environment_file_names_settings_the_project_reads():
    (env_file,) = blocks("ini")
    settings = (ROOT / "pipelines_project" / "settings.py").read_text()
    for line in env_file.splitlines():
        key = line.split("=", 1)[0]
        assert f'"{key}"' in settings, f"{key} in the docs is not read by the settings"


# --------------------------------------------------------------------------- sandbox


def _pg_reachable() -> bool:
    return shutil.which("pg_isready") is not None and (
        subprocess.run(["pg_isready", "-q", *PG_ADMIN[:4]], check=False).returncode == 0
    )


@pytest.fixture(scope="module")
def scratch_pg() -> Iterator[str]:
    """A PostgreSQL database of its own, dropped afterwards."""
    if not _pg_reachable():
        pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (.ci/run starts it)")
    name = f"docs_{os.environ.get('TOX_PARALLEL_ENV', '')}_{uuid.uuid4().hex[:8]}".lower()
    subprocess.run(["createdb", *PG_ADMIN, name], check=True)
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        subprocess.run(["dropdb", *PG_ADMIN, "--force", name], check=False)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, request) -> dict[str, str]:
    """The environment of the documented commands, with a migrated scratch database."""
    workdir = tmp_path_factory.mktemp("docs")
    env = _clean_env()
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        env["DATABASE_URL"] = request.getfixturevalue("scratch_pg")
    else:
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'pipelines.sqlite3'}"
    env.update(
        {
            "SECRET_KEY": "docs-test-" + uuid.uuid4().hex * 2,
            "PIPELINES_DATA_DIR": str(workdir / "data"),
            "LOG_LEVEL": "WARNING",
            "WORKDIR": str(workdir),
        }
    )
    env.pop("REDIS_URL", None)
    run(command(".venv/bin/python manage.py migrate --noinput"), env)
    return env


def run(line: str, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    args = shlex.split(line)
    extra = {}
    while args and re.fullmatch(r"[A-Z_]+=.*", args[0]):
        key, value = args.pop(0).split("=", 1)
        extra[key] = value
    if args[0] == ".venv/bin/python":
        args[0] = sys.executable
    result = subprocess.run(
        args,
        cwd=ROOT,
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,
    )
    assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


# --------------------------------------------------------------------------- install


def test_install_commands_are_the_makefiles():
    """The venv and pip commands are what ``make`` runs for every checkout and CI."""
    makefile = (ROOT / "Makefile").read_text()
    assert "-m venv $(VENV)" in makefile
    assert "$(BIN)/python -m pip install" in makefile
    assert command("python3 -m venv") == "python3 -m venv .venv"


def test_migrate_check_and_superuser(sandbox):
    plan = run(command(".venv/bin/python manage.py migrate --plan"), sandbox)
    assert "No planned migration operations." in plan.stdout  # the sandbox is migrated
    deploy = run(command(".venv/bin/python manage.py check --deploy"), sandbox)
    assert "System check identified" in deploy.stdout + deploy.stderr
    run(command("DJANGO_SUPERUSER_PASSWORD="), sandbox)
    users = run(
        f"{sys.executable} manage.py shell -c "
        '"from django.contrib.auth.models import User; '
        "print(User.objects.get(username='admin').is_superuser)\"",
        sandbox,
    )
    assert users.stdout.strip().splitlines()[-1] == "True"


def test_postgres_role_and_database(scratch_pg):
    """The two commands, run as the database's superuser (the docs' ``sudo -u postgres``)."""
    suffix = uuid.uuid4().hex[:8]
    role, database = f"pipelines_{suffix}", f"pipelines_{suffix}"
    lines = [c for c in commands() if c.startswith("sudo -u postgres")]
    assert [shlex.split(c)[3] for c in lines] == ["createuser", "createdb"]
    try:
        for line in lines:
            args = shlex.split(line)[3:]
            args = [a.replace("pipelines", role) for a in args]
            subprocess.run([args[0], *PG_ADMIN, *args[1:]], check=True)
        owner = subprocess.run(
            [
                "psql",
                *PG_ADMIN,
                "-tAc",
                f"select pg_get_userbyid(datdba) from pg_database where datname = '{database}'",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert owner.stdout.strip() == role
    finally:
        subprocess.run(["dropdb", *PG_ADMIN, "--if-exists", database], check=False)
        subprocess.run(["dropuser", *PG_ADMIN, "--if-exists", role], check=False)


# --------------------------------------------------------------------------- processes


def _start(line: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    args = shlex.split(line)
    args[0] = sys.executable
    with log.open("wb") as out:
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # children left behind, if any


def _until(predicate, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(log.read_text(errors="replace")[-3000:])


def test_the_processes(sandbox):
    workdir = Path(sandbox["WORKDIR"])
    port = free_port()
    scheduler = command(".venv/bin/python manage.py runscheduler").replace("8082", str(port))
    server = _start(scheduler, sandbox, workdir / "scheduler.log")
    qcluster = command(".venv/bin/python manage.py qcluster")
    cluster = _start(qcluster, {**sandbox, "LOG_LEVEL": "INFO"}, workdir / "q.log")
    try:

        def answers() -> bool:
            try:
                return requests.head(f"http://127.0.0.1:{port}/", timeout=2).status_code == 204
            except requests.ConnectionError:
                return False

        _until(answers, 30, workdir / "scheduler.log")
        worker = run(command(".venv/bin/python manage.py runworker"), sandbox)
        assert "Scheduled 16 tasks of which:" in worker.stdout
        tasks = requests.get(f"http://127.0.0.1:{port}/api/task_list", timeout=10).json()
        assert any(t.startswith("DailyReport_2026_11_21_") for t in tasks["response"])
        _until(lambda: b"running" in (workdir / "q.log").read_bytes(), 30, workdir / "q.log")
    finally:
        assert _stop(server) == 0
        _stop(cluster)
    assert cluster.returncode == 0, (workdir / "q.log").read_text()[-2000:]


# --------------------------------------------------------------------------- systemd, proxy


def _installed_units() -> list[str]:
    (copy,) = [c for c in commands() if c.startswith("sudo cp ")]
    files = shlex.split(copy)[2:-1]
    assert shlex.split(copy)[-1] == "/etc/systemd/system/"
    for name in files:
        assert (ROOT / name).is_file(), f"{name} (docs) does not exist"
    return [Path(name).name for name in files]


def _unit_file(name: str) -> str:
    """``pipelines-scheduler@8082`` -> ``pipelines-scheduler@.service``."""
    base = name if "." in name else name + ".service"
    return re.sub(r"@[^.]+\.", "@.", base)


def test_systemd_units(tmp_path):
    installed = _installed_units()
    for line in [c for c in commands() if c.startswith("sudo systemctl ")]:
        args = shlex.split(line)[2:]
        for unit in [a for a in args[1:] if not a.startswith("-")]:
            assert _unit_file(unit) in installed, f"{line}: no unit file for {unit}"
    # The units as installed: paths of this checkout instead of /srv/pipelines.
    env_file = tmp_path / "env"
    env_file.write_text("SECRET_KEY=x\n")
    for name in installed:
        text = (UNITS / name).read_text()
        text = text.replace("/srv/pipelines/.venv/bin/python", sys.executable)
        text = text.replace("/srv/pipelines", str(ROOT)).replace(
            "/etc/pipelines/env", str(env_file)
        )
        (tmp_path / name.replace("@.", "@8082.")).write_text(text)
        parsed = configparser.ConfigParser(strict=False, interpolation=None)
        parsed.read_string(text)
        assert parsed.has_option("Unit", "Description")
        if name.endswith(".service"):
            assert "manage.py" in parsed.get("Service", "ExecStart")
            assert parsed.get("Service", "EnvironmentFile") == str(env_file)
    timer = configparser.ConfigParser(interpolation=None)
    timer.read(tmp_path / "pipelines-daily.timer")
    assert timer.get("Timer", "Persistent") == "true"
    verify = shutil.which("systemd-analyze")
    if verify is None:
        return  # parsed above; systemd itself is not on this machine
    units = sorted(str(p) for p in tmp_path.iterdir() if p.name != "env")
    result = subprocess.run([verify, "verify", "--man=no", *units], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # ... and the verifier does catch a broken unit.
    broken = tmp_path / "broken.service"
    broken.write_text("[Service]\nExecStart=manage.py runscheduler\n")
    result = subprocess.run([verify, "verify", "--man=no", str(broken)], capture_output=True)
    assert result.returncode != 0


def test_proxy_configuration():
    (config,) = blocks("nginx")
    assert config.count("{") == config.count("}")
    upstream = re.findall(r"server 127\.0\.0\.1:(\d+);", config)
    enabled = next(c for c in commands() if "systemctl enable" in c)
    assert upstream == re.findall(r"pipelines-scheduler@(\d+)", enabled)
    websocket = config[config.index("location /ws/") :]
    assert "proxy_set_header Upgrade $http_upgrade;" in websocket
    assert "proxy_http_version 1.1;" in websocket


# --------------------------------------------------------------------------- backup


def test_postgres_backup_round_trip(scratch_pg, tmp_path):
    env = {**_clean_env(), "DATABASE_URL": scratch_pg}

    def sql(statement: str) -> str:
        return subprocess.run(
            ["psql", scratch_pg, "-tAc", statement], capture_output=True, text=True, check=True
        ).stdout.strip()

    sql("create table backup_check (value int); insert into backup_check values (1)")
    dump = command("pg_dump ").replace('"$DATABASE_URL"', scratch_pg)
    subprocess.run(shlex.split(dump), cwd=tmp_path, check=True, env=env)
    assert (tmp_path / "pipelines.dump").stat().st_size > 0
    sql("update backup_check set value = 2")
    restore = command("pg_restore ").replace('"$DATABASE_URL"', scratch_pg)
    subprocess.run(shlex.split(restore), cwd=tmp_path, check=True, env=env)
    assert sql("select value from backup_check") == "1"


def test_sqlite_backup(tmp_path):
    line = command("sqlite3 ")
    (tmp_path / "var").mkdir()
    with sqlite3.connect(tmp_path / "var" / "pipelines.sqlite3") as db:
        db.execute("create table backup_check (value int)")
        db.execute("insert into backup_check values (1)")
    subprocess.run(shlex.split(line), cwd=tmp_path, check=True)
    with sqlite3.connect(tmp_path / "var" / "pipelines-backup.sqlite3") as copy:
        assert copy.execute("select value from backup_check").fetchall() == [(1,)]

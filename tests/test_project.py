"""The project wiring: settings from the environment, apps, ASGI routing."""

import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def test_apps_are_installed():
    for label in ("scheduler", "history", "visualiser", "workers"):
        assert apps.is_installed(label), label


def test_database_comes_from_environment():
    engine = settings.DATABASES["default"]["ENGINE"]
    assert engine in ("django.db.backends.sqlite3", "django.db.backends.postgresql")


def _settings_in_subprocess(env: dict[str, str], expr: str) -> subprocess.CompletedProcess:
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='pipelines_project.settings';"
        f"django.setup(); from django.conf import settings; print({expr})"
    )
    base = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT / "var")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT / "var",
        env={**base, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_secret_key_required_without_debug(tmp_path):
    result = _settings_in_subprocess({"DEBUG": "false", "SECRET_KEY": ""}, "settings.SECRET_KEY")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_has_development_secret_key():
    result = _settings_in_subprocess({"DEBUG": "true", "SECRET_KEY": ""}, "settings.SECRET_KEY")
    assert result.returncode == 0, result.stderr
    assert "django-insecure" in result.stdout


@pytest.mark.parametrize(
    ("redis_url", "backend"),
    [("", "InMemoryChannelLayer"), ("redis://127.0.0.1:6379/0", "RedisChannelLayer")],
)
def test_channel_layer_follows_redis_url(redis_url, backend):
    result = _settings_in_subprocess(
        {"DEBUG": "true", "REDIS_URL": redis_url},
        "settings.CHANNEL_LAYERS['default']['BACKEND']",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(backend)


def test_scheduler_options_from_environment():
    result = _settings_in_subprocess(
        {"DEBUG": "true", "SCHEDULER_RETRY_DELAY": "5", "SCHEDULER_PAUSE_ENABLED": "false"},
        "__import__('scheduler.conf').conf.get_config()",
    )
    assert result.returncode == 0, result.stderr
    assert "retry_delay=5.0" in result.stdout
    assert "pause_enabled=False" in result.stdout


def test_sqlite_default_lives_in_var_folder():
    result = _settings_in_subprocess({"DEBUG": "true"}, "settings.DATABASES['default']['NAME']")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(ROOT / "var" / "pipelines.sqlite3")


def test_asgi_routes_http_and_websocket():
    from pipelines_project.asgi import application

    assert set(application.application_mapping) == {"http", "websocket"}


def test_setting_up_django_loads_neither_twisted_nor_igraph():
    # runworker, migrate and every other command start without the server's Twisted
    # (daphne is not an installed app) or the dashboard's layout library.
    result = _settings_in_subprocess(
        {"DEBUG": "true"},
        "sorted(m for m in ('twisted', 'daphne.server', 'igraph') "
        "if m in __import__('sys').modules)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_server_imports_twisted_without_its_tls_layer():
    code = (
        "import sys; from scheduler.server import _twisted_without_tls\n"
        "with _twisted_without_tls():\n"
        "    from twisted.internet import posixbase\n"
        "import OpenSSL\n"  # still importable by anyone afterwards
        "print(posixbase.tls is None, sys.modules['OpenSSL'] is OpenSSL)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


@pytest.mark.parametrize("ours", [True, False])
def test_twisted_writes_no_access_line_of_its_own(ours):
    from daphne.http_protocol import HTTPFactory
    from twisted.web.test.requesthelper import DummyRequest

    from scheduler.server import _http_factory

    factory = (_http_factory() if ours else HTTPFactory)(None)
    factory.logFile = io.StringIO()
    factory._logDateTime = "[06/Dec/2026:12:00:00 +0000]"  # startFactory's timer sets it
    request = DummyRequest([b"api", b"ping"])
    request.uri = b"/api/ping"
    request.code, request.sentLength = 200, 12
    factory.log(request)
    # daphne's own factory writes Twisted's line; the scheduler's writes none.
    assert (factory._logFile.getvalue() == "") is ours


def test_migrating_one_app_on_a_new_database_then_all(tmp_path):
    # After a partial migrate the schedules' tables do not exist yet: the hook that
    # keeps the maintenance schedule waits for the migrate that creates them.
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'new.sqlite3'}",
    }

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    partial = manage("migrate", "--noinput", "pipelines_scheduler")
    assert partial.returncode == 0, partial.stderr
    full = manage("migrate", "--noinput")
    assert full.returncode == 0, full.stderr
    shown = manage(
        "shell",
        "-c",
        "from django_q.models import Schedule; from workers.schedules import MAINTENANCE_NAME; "
        "print(Schedule.objects.filter(name=MAINTENANCE_NAME).count())",
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-1] == "1"

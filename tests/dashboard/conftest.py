"""A live ``runscheduler`` with a real pipeline's state, and Debian's Chromium.

One server per module; each test gets users and the ``Report`` pipeline's state
from a ``runworker`` run (``site``), since the tables are emptied after each. Browser tests never
download a browser: Playwright drives /usr/bin/chromium, headless, each launch
with a fresh temporary profile. Screenshots of every page go to one folder under
pytest's temporary directory (its path is printed at the end of the module).

Database reads run in a helper thread while the browser is open: Playwright's
sync API keeps an event loop in the test's thread, where Django refuses
synchronous ORM calls.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.db import connections

from tests.live.harness import BACKEND, ROOT, _clean_env, database_url
from tests.live_updates.test_runscheduler import RunschedulerPool

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
RESOURCES = {"db": 2}
PASSWORD = "not-a-real-password-7"


def in_db(function: Callable[..., T], *args: Any) -> T:
    """Run ``function`` on a thread of its own (its own connection, closed after)."""

    def call() -> T:
        try:
            return function(*args)
        finally:
            connections.close_all()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def runworker(*args: str, db_url: str, log: Path) -> subprocess.Popen:
    env = _clean_env()
    env["DATABASE_URL"] = db_url
    env["SCHEDULER_RESOURCES"] = ",".join(f"{k}={v}" for k, v in RESOURCES.items())
    command = [sys.executable, str(ROOT / "manage.py"), "runworker", "--no-lock"]
    command += ["--module", "tests.dashboard.pipelines", "--no-progress", *args]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


@dataclass
class Site:
    url: str
    db_url: str
    root: Path
    screenshots: Path
    sessions: dict[str, str]  # username -> session cookie
    log: Path


def _users() -> dict[str, str]:
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from history.setup import OPERATORS_GROUP, ensure_groups

    ensure_groups()
    operator = User.objects.create_user("olga", password=PASSWORD)
    operator.groups.add(Group.objects.get(name=OPERATORS_GROUP))
    User.objects.create_user("rita", password=PASSWORD)  # read-only: no role at all
    sessions = {}
    for name in ("olga", "rita"):
        client = Client()
        client.force_login(User.objects.get(username=name))
        sessions[name] = client.cookies["sessionid"].value
    return sessions


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if BACKEND != "django":
        pytest.skip("the dashboard is this project's server")
    pool = RunschedulerPool(tmp_path_factory.mktemp("dashboard-server"), database_url())
    try:
        yield pool.get(resources=RESOURCES)
    finally:
        pool.stop_all()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("screenshots")
    yield folder
    print(f"\ndashboard screenshots: {folder}")


@pytest.fixture
def site(transactional_db: None, server: Any, screenshots: Path, tmp_path: Path) -> Site:
    """The server with users and the Report pipeline run by ``runworker`` (per test:
    pytest-django empties the tables after each)."""
    db_url = database_url()
    sessions = in_db(_users)
    log = tmp_path / "runworker.log"
    root = tmp_path / "pipeline"
    report = runworker("Report", "--root", str(root), "--workers", "2", db_url=db_url, log=log)
    report.wait(120)
    return Site(server.url.rstrip("/"), db_url, root, screenshots, sessions, log)


@pytest.fixture
def browser(site: Site) -> Iterator[Any]:
    """Chromium for one test, closed before pytest-django empties the tables (its
    sync ORM calls would meet Playwright's event loop in this thread)."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's package")
    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary profile (user data dir).
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_as(browser: Any, site: Site, user: str | None = None) -> Any:
    """A page in a new browser context, logged in as ``user`` (None: anonymous)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    if user is not None:
        context.add_cookies([{"name": "sessionid", "value": site.sessions[user], "url": site.url}])
    page = context.new_page()
    page.set_default_timeout(15000)
    return page

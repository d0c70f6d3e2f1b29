"""Suite-wide collection rules."""

import os
import time

import pytest


def pytest_collection_modifyitems(config, items):
    """Tests about PostgreSQL itself belong to the PostgreSQL leg only: on SQLite they are
    deselected (they do not apply), not skipped."""
    if "postgres" in os.environ.get("DATABASE_URL", ""):
        return
    kept = [item for item in items if item.get_closest_marker("postgres_only") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture(autouse=True)
def _fresh_prune_clock():
    """Each test starts on a database whose last-prune time no earlier test saw."""
    from scheduler.rpc import reset_prune_clock

    reset_prune_clock()
    yield


@pytest.fixture(scope="session", autouse=True)
def _flush_survives_deadlocks():
    """Live tests share server processes, whose tables ``transactional_db`` empties
    with TRUNCATE after each test while such a process may still be reading two of
    them; PostgreSQL can then pick the TRUNCATE as a deadlock victim. The reader
    finishes at once, so flushing again succeeds."""
    from django.core.management.base import CommandError
    from django.test import testcases

    original = testcases.TransactionTestCase._fixture_teardown

    def teardown(self):
        for attempt in range(1, 4):
            try:
                return original(self)
            except CommandError as exc:
                if attempt == 3 or "deadlock" not in str(exc.__cause__).lower():
                    raise
                time.sleep(0.2 * attempt)

    testcases.TransactionTestCase._fixture_teardown = teardown
    yield
    testcases.TransactionTestCase._fixture_teardown = original

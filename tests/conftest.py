"""Suite-wide collection rules."""

import os

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

"""Fixtures of the history tests: the scheduler's fake-clock ``sched`` and the
live-server fixtures (re-exported, not duplicated)."""

from tests.live.conftest import (  # noqa: F401
    client_config_path,
    live_scheduler,
    live_servers,
    luigi_cli,
    run_build,
)
from tests.scheduler.conftest import sched  # noqa: F401

from __future__ import annotations

# The same allow-list and operator fixtures as the runs tests.
from tests.runs.conftest import allowed_modules, as_operator, operator  # noqa: F401

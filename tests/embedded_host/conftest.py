"""The embedding tests run only in their own leg (``make test-embedded``), with
DJANGO_SETTINGS_MODULE=tests.embedded_host.settings; the main run leaves them out."""

import os

HOST_SETTINGS = "tests.embedded_host.settings"

collect_ignore_glob = (
    [] if os.environ.get("DJANGO_SETTINGS_MODULE") == HOST_SETTINGS else ["test_*.py"]
)

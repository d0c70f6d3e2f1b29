"""The package's public surface and import cost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import workers

ROOT = Path(__file__).resolve().parents[2]


def test_import_does_not_load_django_models_or_need_settings() -> None:
    code = (
        "import sys, workers\n"
        "loaded = [m for m in ('workers.models', 'django.db.models') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "class T(workers.Task):\n"
        "    x = workers.IntParameter(default=1)\n"
        "print(T().task_id)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "T_1_978d9e1e62"  # as Luigi 3.8.1 computes it


def test_public_names() -> None:
    for name in workers.__all__:
        assert hasattr(workers, name), name
    for name in ("Task", "WrapperTask", "ExternalTask", "LocalTarget", "DatabaseTarget"):
        assert name in workers.__all__

"""The command line: ours wins over channels', and bad input is one clear line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.live.harness import ROOT


def test_help_is_ours_not_channels():
    result = subprocess.run(
        [sys.executable, "manage.py", "runworker", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--scheduler-url" in result.stdout
    assert "--keep-alive" in result.stdout
    assert "channels" not in result.stdout.lower()


BAD = {
    "unknown module": (["--module", "tests.workers_runtime.nope", "Ok"], "cannot import module"),
    "unknown task": (["Nope", "--root", "{root}"], "no task class named 'Nope'"),
    "bad parameter value": (
        ["Dated", "--root", "{root}", "--date", "2026-13-45"],
        "--date expects a date as YYYY-MM-DD, got '2026-13-45'",
    ),
    "bad other-task value": (
        ["Dated", "--root", "{root}", "--date", "2026-01-01", "--Node-idx", "x"],
        "Node: --Node-idx expects an integer",
    ),
    "missing required parameter": (
        ["Dated", "--root", "{root}"],
        "missing required parameter --date",
    ),
    "unknown option": (["Ok", "--root", "{root}", "--colour", "red"], "unknown option --colour"),
    "cycle": (["CycleA", "--root", "{root}"], "dependency cycle: CycleA"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_command_lines_are_one_line_errors(case, workers, root):
    args, expected = BAD[case]
    worker = workers.run(*[a.replace("{root}", str(root)) for a in args], timeout=60)
    assert worker.process.returncode not in (0, None)
    lines = [line for line in worker.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, worker.stderr
    assert "Traceback" not in worker.stderr
    assert expected in lines[0], lines[0]
    assert not (root / "runs").exists()

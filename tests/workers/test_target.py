"""LocalTarget: atomic writes, modes, move and remove."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

import workers
from workers import LocalTarget


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_text_write_then_read(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "deep" / "dir" / "out.txt")
    assert not target.exists()
    with target.open("w") as out:
        out.write("héllo\n")
        assert not target.exists()  # nothing visible until the file is closed
    assert target.exists()
    with target.open("r") as inp:
        assert inp.read() == "héllo\n"
    assert leftovers(tmp_path / "deep" / "dir") == ["out.txt"]


def test_binary_modes(tmp_path: Path) -> None:
    target = LocalTarget(str(tmp_path / "blob.bin"))
    with target.open("wb") as out:
        out.write(b"\x00\x01")
    with target.open("rb") as inp:
        assert inp.read() == b"\x00\x01"


def test_exception_in_with_block_leaves_nothing(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "out.csv")
    with pytest.raises(RuntimeError), target.open("w") as out:
        out.write("half a row")
        raise RuntimeError("boom")
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_failed_write_keeps_previous_output(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "out.csv")
    with target.open("w") as out:
        out.write("good")
    with pytest.raises(ValueError), target.open("w") as out:
        out.write("bad")
        raise ValueError
    assert Path(target.path).read_text() == "good"
    assert leftovers(tmp_path) == ["out.csv"]


def test_run_that_raises_without_closing_leaves_nothing(tmp_path: Path) -> None:
    class Writer(workers.Task):
        def output(self):
            return LocalTarget(tmp_path / "result.txt")

        def run(self):
            out = self.output().open("w")
            out.write("partial")
            raise RuntimeError("crashed before close")

    task = Writer()
    with pytest.raises(RuntimeError):
        task.run()
    gc.collect()
    assert not task.complete()
    assert leftovers(tmp_path) == []


def test_unsupported_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported mode 'a'"):
        LocalTarget(tmp_path / "x").open("a")


def test_move_and_remove(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "a.txt")
    with target.open("w") as out:
        out.write("x")
    target.move(tmp_path / "sub" / "b.txt")
    assert not target.exists()
    moved = LocalTarget(tmp_path / "sub" / "b.txt")
    assert moved.exists()
    moved.remove()
    assert not moved.exists()
    moved.remove()  # already gone: no error


def test_move_refuses_to_overwrite_when_asked(tmp_path: Path) -> None:
    a, b = LocalTarget(tmp_path / "a"), LocalTarget(tmp_path / "b")
    for target in (a, b):
        with target.open("w") as out:
            out.write("x")
    with pytest.raises(FileExistsError):
        a.move(b.path, raise_if_exists=True)


def test_remove_directory_and_path_attribute(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    target = LocalTarget(tmp_path / "d")
    assert target.path == str(tmp_path / "d")
    target.remove()
    assert not target.exists()

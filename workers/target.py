"""Targets: the outputs a task produces, whose existence makes it complete.

:class:`LocalTarget` writes atomically: ``open("w")`` writes to a temporary
file next to the final path, which is renamed into place only when the file
is closed without an error. An exception inside ``with target.open("w")`` (or a
file abandoned because ``run()`` raised) leaves neither the output nor the
temporary file behind.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Any

_MODES = {"r", "rb", "w", "wb"}


class Target:
    """Something a task produces. Subclasses implement :meth:`exists`."""

    def exists(self) -> bool:
        raise NotImplementedError


class AtomicWriteFile:
    """A file being written to a temporary path; ``close()`` renames it into place."""

    def __init__(self, path: Path, binary: bool, encoding: str | None, newline: str | None):
        self.path = path
        self.tmp_path = path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}")
        mode = "xb" if binary else "x"
        self._file: IO[Any] = open(  # noqa: SIM115 - closed by close()/discard()
            self.tmp_path, mode, encoding=None if binary else encoding, newline=newline
        )
        self._finished = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def write(self, data: Any) -> int:
        return self._file.write(data)

    def writelines(self, lines: Any) -> None:
        self._file.writelines(lines)

    @property
    def closed(self) -> bool:
        return self._finished

    def close(self) -> None:
        """Finish writing and move the file to its final path."""
        if self._finished:
            return
        self._finished = True
        try:
            self._file.close()
            os.replace(self.tmp_path, self.path)
        except BaseException:
            self.tmp_path.unlink(missing_ok=True)
            raise

    def discard(self) -> None:
        """Abandon the write: the temporary file is removed, the output never appears."""
        if self._finished:
            return
        self._finished = True
        try:
            self._file.close()
        finally:
            self.tmp_path.unlink(missing_ok=True)

    def __enter__(self) -> AtomicWriteFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()

    def __del__(self) -> None:
        # Never closed (run() raised before close): drop the partial file.
        if not getattr(self, "_finished", True):
            self.discard()

    def __iter__(self) -> Any:
        return iter(self._file)


class LocalTarget(Target):
    """A file (or directory) on the local file system."""

    def __init__(
        self, path: str | os.PathLike[str] | None = None, is_tmp: bool = False, **_: Any
    ) -> None:
        if path is None:
            if not is_tmp:
                raise ValueError("LocalTarget needs a path (or is_tmp=True for a temporary one)")
            path = Path(tempfile.gettempdir()) / f"workers-tmp-{secrets.token_hex(8)}"
        self.path = os.fspath(path)
        self.is_tmp = is_tmp

    def __repr__(self) -> str:
        return f"LocalTarget({self.path!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalTarget) and other.path == self.path

    def __hash__(self) -> int:
        return hash(("LocalTarget", self.path))

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def makedirs(self) -> None:
        """Create the parent directories of the path."""
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, exist_ok=True)

    def open(
        self, mode: str = "r", encoding: str | None = "utf-8", newline: str | None = None
    ) -> Any:
        """``r``/``rb`` read; ``w``/``wb`` write atomically (see :class:`AtomicWriteFile`)."""
        if mode not in _MODES:
            raise ValueError(f"unsupported mode {mode!r} for {self!r}; use one of r, rb, w, wb")
        binary = mode.endswith("b")
        if mode.startswith("w"):
            self.makedirs()
            return AtomicWriteFile(Path(self.path), binary, encoding, newline)
        if binary:
            return open(self.path, "rb")
        return open(self.path, encoding=encoding, newline=newline)

    def remove(self) -> None:
        """Delete the file (or directory tree); no error if it is already gone."""
        if os.path.isdir(self.path) and not os.path.islink(self.path):
            shutil.rmtree(self.path)
        elif os.path.lexists(self.path):
            os.remove(self.path)

    def move(self, new_path: str | os.PathLike[str], raise_if_exists: bool = False) -> None:
        """Rename to ``new_path`` (creating its directories); the target keeps its old path."""
        destination = os.fspath(new_path)
        if raise_if_exists and os.path.exists(destination):
            raise FileExistsError(f"destination {destination} exists")
        parent = os.path.dirname(os.path.abspath(destination))
        os.makedirs(parent, exist_ok=True)
        shutil.move(self.path, destination)

    rename = move

    def copy(self, new_path: str | os.PathLike[str], raise_if_exists: bool = False) -> None:
        destination = os.fspath(new_path)
        if raise_if_exists and os.path.exists(destination):
            raise FileExistsError(f"destination {destination} exists")
        os.makedirs(os.path.dirname(os.path.abspath(destination)), exist_ok=True)
        shutil.copy2(self.path, destination)

    def __del__(self) -> None:
        if getattr(self, "is_tmp", False) and os.path.exists(self.path):
            self.remove()

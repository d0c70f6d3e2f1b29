"""A target that records completion as a row in the project's database (Django ORM).

Use it for tasks whose output lives in a database table::

    def output(self):
        return DatabaseTarget(self.task_id, table="sales_daily")

    def run(self):
        with transaction.atomic():
            ...  # write the rows
            self.output().touch()   # same transaction: the marker appears with the data

Importing this module does not import Django models; it is safe before apps are ready.
"""

from __future__ import annotations

from typing import Any

from workers.errors import TaskDefinitionError
from workers.target import Target

MAX_UPDATE_ID = 512
MAX_TABLE = 255


class DatabaseTarget(Target):
    """Exists once ``touch()`` has recorded ``update_id`` for ``table``."""

    def __init__(self, update_id: str, table: str = "", using: str | None = None) -> None:
        if not update_id or len(update_id) > MAX_UPDATE_ID:
            raise TaskDefinitionError(
                f"DatabaseTarget update_id must be 1-{MAX_UPDATE_ID} characters, "
                f"got {len(update_id)}: {update_id[:80]!r}"
            )
        if len(table) > MAX_TABLE:
            raise TaskDefinitionError(f"DatabaseTarget table must be at most {MAX_TABLE} chars")
        self.update_id = update_id
        self.table = table
        self.using = using

    def __repr__(self) -> str:
        return f"DatabaseTarget({self.update_id!r}, table={self.table!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatabaseTarget) and (
            other.update_id,
            other.table,
            other.using,
        ) == (self.update_id, self.table, self.using)

    def __hash__(self) -> int:
        return hash(("DatabaseTarget", self.update_id, self.table, self.using))

    def _rows(self) -> Any:
        from workers.models import TargetMarker

        manager = TargetMarker.objects.db_manager(self.using)
        return manager.filter(update_id=self.update_id, target_table=self.table)

    def exists(self) -> bool:
        return self._rows().exists()

    def touch(self) -> None:
        """Record completion; doing it again (even concurrently) is harmless."""
        from workers.models import TargetMarker

        TargetMarker.objects.db_manager(self.using).bulk_create(
            [TargetMarker(update_id=self.update_id, target_table=self.table)],
            ignore_conflicts=True,
        )

    def remove(self) -> None:
        """Forget the completion, so the task runs again."""
        self._rows().delete()


TaskCompletionTarget = DatabaseTarget

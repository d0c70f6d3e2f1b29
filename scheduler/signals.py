"""Transition events. The scheduler never imports history, visualiser or metrics;
they connect here.

- ``task_status_changed`` is sent inside the transaction that changes a task's
  status (receivers writing to the database share that transaction).
- ``task_status_committed`` is sent after that transaction commits (live
  pushes, metrics).

Both carry ``change``: a :class:`scheduler.service.base.StatusChange`.
"""

from django.dispatch import Signal

task_status_changed = Signal()
task_status_committed = Signal()

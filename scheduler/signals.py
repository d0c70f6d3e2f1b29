"""Transition events. The scheduler never imports history, visualiser or metrics;
they connect here.

- ``task_status_changed`` is sent inside the transaction that changes a task's
  status (receivers writing to the database share that transaction).
- ``task_status_committed`` is sent after that transaction commits (live
  pushes, metrics).

Both carry ``change``: a :class:`scheduler.service.base.StatusChange`. Its seq
(the outbox id) is taken at the end of the transaction (``service.outbox``):
``task_status_changed`` sees 0, ``task_status_committed`` the id.

- ``task_status_changed_many`` takes ``task_status_changed``'s place when many
  tasks change at once (bulk registration, ``add_tasks``): one signal, inside
  the transaction, with ``changes`` (StatusChange list, in the order made) and
  ``tasks`` (task id -> Task row). A receiver of ``task_status_changed`` that
  must see every change connects here too (``for_each`` adapts it).
  ``task_status_committed`` is still sent once per change.
"""

from django.dispatch import Signal

task_status_changed = Signal()
task_status_committed = Signal()
task_status_changed_many = Signal()


def for_each(receiver):
    """A ``task_status_changed_many`` receiver calling a per-change receiver."""

    def many(sender, changes=(), tasks=None, **kwargs):
        for change in changes:
            receiver(sender, change=change, task=(tasks or {}).get(change.task_id), **kwargs)

    return many

"""The scheduler service: every operation of Luigi's protocol, one transaction each.

Each function takes a :class:`Ctx` (clock reading and configuration) first, then
the protocol's keyword arguments. Views, the admin, the REST API and the
in-process worker client are thin adapters over these functions.
"""

from .base import Ctx, StatusChange
from .maintenance import prune_if_due, prune_now
from .operations import (
    announce_scheduling_failure,
    disable_task,
    forgive_failures,
    has_task_history,
    is_pause_enabled,
    is_paused,
    mark_as_done,
    pause,
    prune,
    re_enable_task,
    release_task,
    unpause,
    update_resource,
    update_resources,
)
from .reads import (
    dep_graph,
    fetch_error,
    graph,
    inverse_dep_graph,
    resource_list,
    task_list,
    task_search,
    worker_list,
)
from .registration import add_tasks
from .tasks import (
    add_scheduler_message_response,
    add_task,
    add_task_batcher,
    decrease_running_task_resources,
    get_running_task_resources,
    get_scheduler_message_response,
    get_task_progress_percentage,
    get_task_status_message,
    report_task_statistics,
    set_task_progress_percentage,
    set_task_status_message,
)
from .work import count_pending, get_work, report_and_get_work
from .workers import add_worker, disable_worker, ping, send_scheduler_message, set_worker_processes

__all__ = [
    "Ctx",
    "StatusChange",
    "add_scheduler_message_response",
    "add_task",
    "add_task_batcher",
    "add_tasks",
    "add_worker",
    "announce_scheduling_failure",
    "count_pending",
    "decrease_running_task_resources",
    "dep_graph",
    "disable_task",
    "disable_worker",
    "fetch_error",
    "forgive_failures",
    "get_running_task_resources",
    "get_scheduler_message_response",
    "get_task_progress_percentage",
    "get_task_status_message",
    "get_work",
    "graph",
    "has_task_history",
    "inverse_dep_graph",
    "is_pause_enabled",
    "is_paused",
    "mark_as_done",
    "pause",
    "ping",
    "prune",
    "prune_if_due",
    "prune_now",
    "re_enable_task",
    "release_task",
    "report_and_get_work",
    "report_task_statistics",
    "resource_list",
    "send_scheduler_message",
    "set_task_progress_percentage",
    "set_task_status_message",
    "set_worker_processes",
    "task_list",
    "task_search",
    "unpause",
    "update_resource",
    "update_resources",
    "worker_list",
]

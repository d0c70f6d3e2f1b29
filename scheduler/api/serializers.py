"""JSON shapes of the REST API. Times are seconds since the epoch (as in Luigi's
protocol); lists are built from a page of rows plus bulk-fetched maps passed in the
serializer context (``workers``, ``labels``), never a query per row."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..models import Task
from ..policy import task_id_family_guess


class TaskSerializer(serializers.Serializer):
    task_id = serializers.CharField()
    family = serializers.CharField()
    display_name = serializers.CharField(help_text="Family(k=v, ...) over the public params.")
    status = serializers.CharField(help_text="The stored status.")
    display_status = serializers.SerializerMethodField(
        help_text="UPSTREAM_FAILED or UPSTREAM_DISABLED for a PENDING task blocked upstream, "
        "else the status (what the status filter matches)."
    )
    priority = serializers.FloatField()
    params = serializers.DictField(source="public_params", help_text="The public parameters.")
    worker_running = serializers.CharField(allow_null=True)
    workers = serializers.SerializerMethodField(help_text="Workers that may run the task.")
    status_message = serializers.CharField(allow_null=True)
    progress_percentage = serializers.FloatField(allow_null=True)
    tracking_url = serializers.CharField(allow_null=True)
    time_running = serializers.FloatField(allow_null=True, help_text="When it started running.")
    last_updated = serializers.FloatField(source="updated", help_text="Last status change.")
    start_time = serializers.FloatField(source="time", help_text="When first registered.")
    failures = serializers.SerializerMethodField(help_text="Failures inside the disable window.")
    retry_at = serializers.FloatField(
        allow_null=True, help_text="When a FAILED task becomes PENDING again."
    )

    def get_display_status(self, task: Task) -> str:
        if task.status == "PENDING":
            return self.context.get("labels", {}).get(task.task_id, task.status)
        return task.status

    def get_workers(self, task: Task) -> list[str]:
        return self.context.get("workers", {}).get(task.task_id, [])

    def get_failures(self, task: Task) -> int:
        return len(task.failures or [])

    def to_representation(self, task: Task) -> dict[str, Any]:
        data = super().to_representation(task)
        if not task.family:  # a dependency no worker registered yet (UNKNOWN)
            data["family"] = task_id_family_guess(task.task_id)
            data["display_name"] = task.task_id
        if task.status != "FAILED":
            data["retry_at"] = None
        return data


class TaskRefSerializer(serializers.Serializer):
    task_id = serializers.CharField()
    display_name = serializers.CharField()
    status = serializers.CharField()


class ActionsSerializer(serializers.Serializer):
    re_enable = serializers.BooleanField()
    retry = serializers.BooleanField()
    mark_done = serializers.BooleanField()
    disable = serializers.BooleanField()


class TaskDetailSerializer(TaskSerializer):
    module = serializers.CharField(allow_null=True)
    deps = serializers.SerializerMethodField()
    dependents = serializers.SerializerMethodField()
    error = serializers.CharField(source="expl", allow_null=True, help_text="Traceback text.")
    resources = serializers.DictField()
    resources_running = serializers.DictField(allow_null=True)
    retry_policy = serializers.DictField()
    scheduler_disabled = serializers.SerializerMethodField(
        help_text="Disabled by the scheduler after too many failures (re-enable applies)."
    )
    actions = serializers.SerializerMethodField(
        help_text="What this user may do to the task now (each a POST endpoint)."
    )

    def get_deps(self, task: Task) -> list[dict]:
        return TaskRefSerializer(self.context["deps"], many=True).data

    def get_dependents(self, task: Task) -> list[dict]:
        return TaskRefSerializer(self.context["dependents"], many=True).data

    def get_scheduler_disabled(self, task: Task) -> bool:
        return task.status == "DISABLED" and task.scheduler_disable_time is not None

    def get_actions(self, task: Task) -> dict[str, bool]:
        return self.context["actions"]


class CountsSerializer(serializers.Serializer):
    PENDING = serializers.IntegerField()
    RUNNING = serializers.IntegerField()
    BATCH_RUNNING = serializers.IntegerField()
    DONE = serializers.IntegerField()
    FAILED = serializers.IntegerField()
    DISABLED = serializers.IntegerField()
    UNKNOWN = serializers.IntegerField()
    UPSTREAM_FAILED = serializers.IntegerField()
    UPSTREAM_DISABLED = serializers.IntegerField()
    total = serializers.IntegerField()


class GraphNodeSerializer(serializers.Serializer):
    task_id = serializers.CharField()
    family = serializers.CharField()
    display_name = serializers.CharField()
    status = serializers.CharField()
    display_status = serializers.CharField()
    priority = serializers.FloatField()
    progress_percentage = serializers.FloatField(allow_null=True)


class GraphEdgeSerializer(serializers.Serializer):
    source = serializers.CharField(help_text="The dependent task.")
    target = serializers.CharField(help_text="The task it depends on.")


class GraphSerializer(serializers.Serializer):
    root = serializers.CharField()
    direction = serializers.CharField()
    nodes = GraphNodeSerializer(many=True)
    edges = GraphEdgeSerializer(many=True)
    truncated = serializers.BooleanField(help_text="More nodes are reachable than were kept.")
    total_nodes = serializers.IntegerField(help_text="Nodes reachable in this direction.")


class WorkerSerializer(serializers.Serializer):
    worker_id = serializers.CharField()
    host = serializers.CharField(allow_null=True)
    pid = serializers.IntegerField(allow_null=True)
    username = serializers.CharField(allow_null=True)
    first_seen = serializers.FloatField()
    last_seen = serializers.FloatField()
    disabled = serializers.BooleanField()
    processes = serializers.IntegerField()
    running = serializers.ListField(child=serializers.CharField())
    alive = serializers.BooleanField(help_text="Seen within worker_disconnect_delay.")


class ResourceSerializer(serializers.Serializer):
    name = serializers.CharField()
    limit = serializers.IntegerField(allow_null=True, help_text="null: no limit is set.")
    in_use = serializers.IntegerField()
    running = serializers.ListField(child=serializers.CharField())


class ResourceLimitSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=0, max_value=2**31 - 1)

"""Thin DRF adapters over ``scheduler.service``: parse, call, serialize.

Task ids, worker ids and resource names may contain any character, '/' included:
clients percent-encode them in the path (see ``urls.IdRouter``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from ..errors import InvalidArgument, NotFound
from ..models import Task, Worker
from ..permissions import CanOperate, CanView, can_operate
from ..service import Ctx, update_resource
from ..service.actions import act_on_task, applicable, disable_worker_once
from ..service.base import require_str
from ..service.inventory import resource_items, worker_items
from ..service.queries import (
    ORDERINGS,
    TASK_FILTERS,
    blocked_tasks,
    filter_tasks,
    needs_blocked,
    neighbours,
    parse_task_filter,
    task_counts,
    upstream_labels,
)
from ..service.registry import workers_map
from ..service.task_graph import DIRECTIONS, task_graph
from ..status import Status
from .base import PipelinesApiMixin
from .conditional import ETagMixin
from .pagination import ApiPagination
from .serializers import (
    CountsSerializer,
    GraphSerializer,
    ResourceLimitSerializer,
    ResourceSerializer,
    TaskDetailSerializer,
    TaskSerializer,
    WorkerSerializer,
)

# Any character, newlines included ('.' would stop at one).
ANY_ID = r"[\s\S]+"


def _user(request: Request) -> str | None:
    user = request.user
    return user.get_username() if user is not None and user.is_authenticated else None


def _filter_parameters(names: list[str]) -> list[OpenApiParameter]:
    return [
        OpenApiParameter(
            name,
            str,
            description=TASK_FILTERS[name],
            enum=list(ORDERINGS) if name == "ordering" else None,
        )
        for name in names
    ]


ALL_FILTERS = list(TASK_FILTERS)
NOT_STATUS = [name for name in TASK_FILTERS if name not in ("status", "ordering")]


class OperatorActionsMixin:
    """Reads need the viewer role; the POST/PATCH actions listed need the operator role."""

    operator_actions: tuple[str, ...] = ()

    def get_permissions(self) -> list[Any]:
        if getattr(self, "action", None) in self.operator_actions:
            return [CanOperate()]
        return [CanView()]


def _action_schema(summary: str) -> Any:
    return extend_schema(
        summary=summary,
        request=None,
        responses={200: TaskDetailSerializer},
        description="Operator role. 404 for an unknown task, 409 when the action does not "
        "apply to the task's current status (the detail says why).",
    )


@extend_schema_view(
    list=extend_schema(summary="Tasks", parameters=_filter_parameters(ALL_FILTERS)),
    retrieve=extend_schema(
        summary="One task with its deps, dependents, error and actions",
        responses=TaskDetailSerializer,
    ),
)
class TaskViewSet(PipelinesApiMixin, ETagMixin, OperatorActionsMixin, viewsets.GenericViewSet):
    """Tasks: reads for the viewer role, actions (POST) for the operator role."""

    serializer_class = TaskSerializer
    pagination_class = ApiPagination
    lookup_field = "task_id"
    lookup_value_regex = ANY_ID
    operator_actions = ("re_enable", "retry", "mark_done", "disable")
    queryset = Task.objects.none()  # for the schema; lists come from the service

    def list(self, request: Request) -> Response:
        filters = parse_task_filter(request.query_params)
        blocked = blocked_tasks() if needs_blocked(filters) else None
        queryset = filter_tasks(filters, blocked).defer("expl", "message_responses")
        page = self.paginate_queryset(queryset)
        ids = [task.task_id for task in page]
        pending = [task.task_id for task in page if task.status == Status.PENDING]
        context = {"workers": workers_map(ids), "labels": upstream_labels(pending, blocked)}
        return self.get_paginated_response(TaskSerializer(page, many=True, context=context).data)

    @extend_schema(
        summary="How many tasks are in each display status",
        parameters=_filter_parameters(NOT_STATUS),
        responses=CountsSerializer,
    )
    @action(detail=False)
    def counts(self, request: Request) -> Response:
        return Response(task_counts(parse_task_filter(request.query_params)))

    def _task_id(self) -> str:
        return require_str("task_id", self.kwargs["task_id"])

    def _detail(self, request: Request, task_id: str) -> Response:
        task = Task.objects.filter(pk=task_id).first()
        if task is None:
            raise NotFound(f"no task with id {task_id!r}")
        deps, dependents = neighbours(task_id)
        allowed = applicable(task.status, task.scheduler_disable_time is not None)
        operator = can_operate(request.user)
        context = {
            "workers": workers_map([task_id]),
            "labels": upstream_labels([task_id] if task.status == Status.PENDING else []),
            "deps": deps,
            "dependents": dependents,
            "actions": {name: operator and ok for name, ok in allowed.items()},
        }
        return Response(TaskDetailSerializer(task, context=context).data)

    def retrieve(self, request: Request, task_id: str) -> Response:
        return self._detail(request, self._task_id())

    @extend_schema(
        summary="The task's dependency graph as nodes and edges",
        parameters=[
            OpenApiParameter(
                "direction",
                str,
                enum=DIRECTIONS,
                description="upstream: what it depends on (default); downstream: what depends "
                "on it; both.",
            ),
            OpenApiParameter(
                "max_nodes", OpenApiTypes.INT, description="Keep at most this many nodes."
            ),
        ],
        responses=GraphSerializer,
    )
    @action(detail=True)
    def graph(self, request: Request, task_id: str) -> Response:
        params = request.query_params
        graph = task_graph(
            Ctx.make(), self._task_id(), params.get("direction"), params.get("max_nodes")
        )
        return Response(graph)

    def _act(self, request: Request, name: str) -> Response:
        task_id = self._task_id()
        act_on_task(Ctx.make(), name, task_id, user=_user(request))
        return self._detail(request, task_id)

    @_action_schema("Re-enable a task the scheduler disabled (it becomes FAILED, retried later)")
    @action(detail=True, methods=["post"], url_path="re-enable")
    def re_enable(self, request: Request, task_id: str) -> Response:
        return self._act(request, "re_enable")

    @_action_schema("Retry a FAILED or scheduler-disabled task now (it becomes PENDING)")
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, task_id: str) -> Response:
        return self._act(request, "retry")

    @_action_schema("Mark a RUNNING, FAILED or DISABLED task done")
    @action(detail=True, methods=["post"], url_path="mark-done")
    def mark_done(self, request: Request, task_id: str) -> Response:
        return self._act(request, "mark_done")

    @_action_schema("Disable a task (lifted by mark done or a worker's next report)")
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, task_id: str) -> Response:
        return self._act(request, "disable")


@extend_schema_view(list=extend_schema(summary="Workers, most recently seen first"))
class WorkerViewSet(PipelinesApiMixin, ETagMixin, OperatorActionsMixin, viewsets.GenericViewSet):
    """Workers that called in: reads for the viewer role, disable for the operator role."""

    serializer_class = WorkerSerializer
    pagination_class = ApiPagination
    lookup_field = "worker_id"
    lookup_value_regex = ANY_ID
    operator_actions = ("disable",)
    queryset = Worker.objects.order_by("-last_active", "worker_id")

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(worker_items(Ctx.make(), page))

    @extend_schema(
        summary="Disable a worker (its running tasks finish; it gets no new work)",
        request=None,
        responses={200: WorkerSerializer},
        description="Operator role. 404 for an unknown worker, 409 if already disabled.",
    )
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, worker_id: str) -> Response:
        worker_id = require_str("worker_id", worker_id)
        ctx = Ctx.make()
        disable_worker_once(ctx, worker_id)
        return Response(worker_items(ctx, [Worker.objects.get(pk=worker_id)])[0])


@extend_schema_view(
    list=extend_schema(summary="Resources with their limits and who holds them"),
    retrieve=extend_schema(summary="One resource"),
    partial_update=extend_schema(
        summary="Set a resource's limit",
        request=ResourceLimitSerializer,
        description="Operator role. Sets the run-time limit (it overrides the configured one); "
        "a name not yet known gets a limit too, as Luigi's update_resource does.",
    ),
)
class ResourceViewSet(PipelinesApiMixin, ETagMixin, OperatorActionsMixin, viewsets.GenericViewSet):
    """Resources: reads for the viewer role, limits set by the operator role."""

    serializer_class = ResourceSerializer
    pagination_class = ApiPagination
    lookup_field = "name"
    lookup_value_regex = ANY_ID
    operator_actions = ("partial_update",)

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(resource_items(Ctx.make()))
        return self.get_paginated_response(page)

    def _name(self) -> str:
        name = require_str("name", self.kwargs["name"])
        if len(name) > 255:
            raise InvalidArgument("name", "a resource name has at most 255 characters")
        return name

    def retrieve(self, request: Request, name: str) -> Response:
        item = resource_items(Ctx.make(), self._name())[0]
        if item["limit"] is None and not item["running"]:
            raise NotFound(f"no resource named {name!r} has a limit or is in use")
        return Response(item)

    def partial_update(self, request: Request, name: str) -> Response:
        name = self._name()
        data = ResourceLimitSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if "limit" not in data.validated_data:  # nothing to change
            return self.retrieve(request, name)
        ctx = Ctx.make()
        update_resource(ctx, resource=name, amount=data.validated_data["limit"])
        return Response(resource_items(ctx, name)[0])

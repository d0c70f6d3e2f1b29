"""Pipeline runs over REST, under /api/v1/runs/:

- ``POST /api/v1/runs/`` ``{"module", "family", "params": {...}, "workers": n}``
  (operator role) checks the request and queues it: ``201`` with the run, or
  ``400`` ``{"error": code, "detail": message}`` naming what is wrong;
- ``GET /api/v1/runs/`` (``?state=``, ``?trigger=``, ``?schedule=``) and
  ``GET /api/v1/runs/<id>/``: state, exit code and outcome, times, the root task
  id with its history link, the end of runworker's output.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import QuerySet
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from scheduler.api.base import PipelinesApiMixin
from scheduler.api.pagination import ApiPagination
from scheduler.permissions import CanOperate, CanView
from workers import runs
from workers.models import PipelineRun, RunState, RunTrigger
from workers.run_requests import RunRequestError, check


class PipelineRunRequestSerializer(serializers.Serializer):
    """The shape of a run request; :func:`workers.run_requests.check` decides the rest."""

    module = serializers.CharField()
    family = serializers.CharField()
    params = serializers.DictField(required=False, default=dict)
    workers = serializers.IntegerField(required=False, default=1)


class PipelineRunSerializer(serializers.ModelSerializer):
    history_url = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = PipelineRun
        fields = [
            "id",
            "url",
            "module",
            "family",
            "params",
            "workers",
            "trigger",
            "schedule",
            "state",
            "exit_code",
            "outcome",
            "requested_by",
            "root_task_id",
            "history_url",
            "created_at",
            "started_at",
            "finished_at",
            "log_tail",
        ]

    def get_url(self, run: PipelineRun) -> str:
        return reverse("pipelines_workers:run-detail", args=[run.pk])

    def get_history_url(self, run: PipelineRun) -> str | None:
        if not run.root_task_id or not apps.is_installed("history"):
            return None
        try:
            return reverse("pipelines_history:by_task_id", args=[run.root_task_id])
        except NoReverseMatch:
            return None


def error_body(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error as ``{"error": code, "detail": message}``."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "no such run")
    if isinstance(exc, RunRequestError):
        return Response({"error": exc.code, "detail": exc.message}, status=400)
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            text = "; ".join(
                f"{field}: {' '.join(str(m) for m in (msgs if isinstance(msgs, list) else [msgs]))}"
                for field, msgs in detail.items()
            )
        else:
            text = " ".join(str(m) for m in detail)
        return Response({"error": "bad_request", "detail": text}, status=400)
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        return Response({"error": code, "detail": str(exc.detail)}, status=exc.status_code)
    return None


class RunViewSet(
    PipelinesApiMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Pipeline runs: trigger one (operators), list and inspect them (viewers)."""

    pagination_class = ApiPagination
    serializer_class = PipelineRunSerializer

    def get_permissions(self) -> list[Any]:
        # Triggering a run is an operator action; reading runs needs the viewer role.
        return [CanOperate()] if self.action == "create" else [CanView()]

    def get_exception_handler(self) -> Any:
        return error_body

    def get_queryset(self) -> QuerySet[PipelineRun]:
        runs_ = PipelineRun.objects.all()
        if self.action != "list":
            return runs_
        query = self.request.query_params
        for name, choices in (("state", RunState.values), ("trigger", RunTrigger.values)):
            value = query.get(name)
            if value:
                wanted = value.split(",")
                unknown = [v for v in wanted if v not in choices]
                if unknown:
                    raise exceptions.ValidationError(
                        {name: [f"unknown {name} {unknown[0]!r} (one of {', '.join(choices)})"]}
                    )
                runs_ = runs_.filter(**{f"{name}__in": wanted})
        if query.get("schedule"):
            if not query["schedule"].isdigit():
                raise exceptions.ValidationError({"schedule": ["a schedule id (integer)"]})
            runs_ = runs_.filter(schedule_id=int(query["schedule"]))
        return runs_

    def get_serializer_class(self) -> Any:
        return PipelineRunRequestSerializer if self.action == "create" else PipelineRunSerializer

    @extend_schema(request=PipelineRunRequestSerializer, responses={201: PipelineRunSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError(["the body must be a JSON object"])
        shape = PipelineRunRequestSerializer(data=request.data)
        shape.is_valid(raise_exception=True)
        data = shape.validated_data
        checked = check(data["module"], data["family"], data["params"], data["workers"])
        run = runs.start(checked, trigger=RunTrigger.API, requested_by=request.user.get_username())
        return Response(PipelineRunSerializer(run).data, status=status.HTTP_201_CREATED)

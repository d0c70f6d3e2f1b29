"""The scheduler in the Django admin: where operators look and act.

Everything here is read-only except through the scheduler service: task actions
go through ``service.bulk`` (the RPC methods re_enable_task, forgive_failures,
mark_as_done, disable_task, applied in batches), workers through
``disable_worker`` and resource limits through ``update_resource``, so an
action has exactly the effect of the matching RPC call, is recorded with the
acting user, and reaches open dashboards like any other change.

Looking needs the usual view permissions; acting needs
``pipelines_scheduler.operate_scheduler`` (the seeded "Operators" group has it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from .auth.tokens import create_token, revoke
from .models import ApiToken, Dependency, Resource, Task, Worker
from .permissions import OPERATE_PERMISSION
from .service import Ctx, bulk, disable_worker, update_resource
from .status import ACTIVE, Status

MAX_LISTED_DEPS = 200


def may_operate(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.has_perm(OPERATE_PERMISSION)


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows change only through the scheduler service, never through a form."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return may_operate(request)


class FamilyFilter(admin.SimpleListFilter):
    title = "family"
    parameter_name = "family"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        families = (
            Task.objects.exclude(family="")
            .order_by("family")
            .values_list("family", flat=True)
            .distinct()
        )
        return [(family, family) for family in families[:500]]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(family=self.value()) if self.value() else queryset


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = ["task_id", "family", "status", "worker_running", "priority", "last_change"]
    list_filter = ["status", FamilyFilter]
    # display_name is Family(k=v, ...) over the public parameters: searching it
    # searches the parameters.
    search_fields = ["task_id", "display_name"]
    show_full_result_count = False
    list_per_page = 100
    actions = ["re_enable", "retry", "mark_done", "disable"]
    fieldsets = [
        (None, {"fields": ["task_id", "family", "module", "status", "parameters", "priority"]}),
        (
            "Run",
            {
                "fields": [
                    "worker_running",
                    "running_since",
                    "last_change",
                    "retry_time",
                    "failure_count",
                    "status_message",
                    "progress_percentage",
                    "tracking_url",
                    "resources",
                    "resources_running",
                ]
            },
        ),
        ("Error", {"fields": ["expl"], "classes": ["collapse"]}),
        ("Dependencies", {"fields": ["dependencies", "dependants"]}),
    ]
    readonly_fields = [
        "task_id",
        "family",
        "module",
        "status",
        "parameters",
        "priority",
        "worker_running",
        "running_since",
        "last_change",
        "retry_time",
        "failure_count",
        "status_message",
        "progress_percentage",
        "tracking_url",
        "resources",
        "resources_running",
        "expl",
        "dependencies",
        "dependants",
    ]

    @admin.display(description="last change", ordering="updated")
    def last_change(self, task: Task) -> str:
        return when(task.updated)

    @admin.display(description="running since")
    def running_since(self, task: Task) -> str:
        return when(task.time_running) if task.status in ACTIVE else "-"

    @admin.display(description="retry at")
    def retry_time(self, task: Task) -> str:
        return when(task.retry_at) if task.status == Status.FAILED else "-"

    @admin.display(description="failures in the window")
    def failure_count(self, task: Task) -> int:
        return len(task.failures or [])

    @admin.display(description="parameters")
    def parameters(self, task: Task) -> str:
        params = task.public_params
        if not params:
            return "-"
        rows = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", sorted(params.items()))
        return format_html("<table>{}</table>", rows)

    def _task_links(self, task_ids: list[str], more: bool) -> str:
        if not task_ids:
            return "-"
        statuses = dict(Task.objects.filter(pk__in=task_ids).values_list("task_id", "status"))
        items = format_html_join(
            "",
            '<li><a href="{}">{}</a> ({})</li>',
            (
                (
                    reverse("admin:pipelines_scheduler_task_change", args=[quote(task_id)]),
                    task_id,
                    statuses.get(task_id, "not registered"),
                )
                for task_id in task_ids
            ),
        )
        suffix = format_html("<li>… more not shown</li>") if more else ""
        return format_html("<ul>{}{}</ul>", items, suffix)

    @admin.display(description="requires")
    def dependencies(self, task: Task) -> str:
        ids = list(
            Dependency.objects.filter(task_id=task.task_id)
            .order_by("dep_id")
            .values_list("dep_id", flat=True)[: MAX_LISTED_DEPS + 1]
        )
        return self._task_links(ids[:MAX_LISTED_DEPS], len(ids) > MAX_LISTED_DEPS)

    @admin.display(description="required by")
    def dependants(self, task: Task) -> str:
        ids = list(
            Dependency.objects.filter(dep_id=task.task_id)
            .order_by("task_id")
            .values_list("task_id", flat=True)[: MAX_LISTED_DEPS + 1]
        )
        return self._task_links(ids[:MAX_LISTED_DEPS], len(ids) > MAX_LISTED_DEPS)

    def _bulk(self, request: HttpRequest, queryset: Any, action: str, done: str, rule: str):
        ids = list(queryset.values_list("task_id", flat=True))
        result = bulk.apply(action, ids, user=request.user.get_username())
        text = f"{done} {result.changed} of {result.selected} selected tasks."
        if result.unchanged:
            text += f" {result.unchanged} unchanged: {rule}."
        level = messages.SUCCESS if result.changed else messages.WARNING
        self.message_user(request, text, level)

    @admin.action(
        description="Re-enable (scheduler-disabled → failed, retried after retry_delay)",
        permissions=["operate"],
    )
    def re_enable(self, request: HttpRequest, queryset: Any) -> None:
        self._bulk(
            request,
            queryset,
            "re_enable_task",
            "Re-enabled",
            "only tasks the scheduler disabled can be re-enabled "
            "(a worker's or operator's disable is lifted by mark as done or a new report)",
        )

    @admin.action(description="Retry (forgive failures: failed → pending)", permissions=["operate"])
    def retry(self, request: HttpRequest, queryset: Any) -> None:
        self._bulk(request, queryset, "forgive_failures", "Retrying", "only FAILED tasks retry")

    @admin.action(description="Mark as done", permissions=["operate"])
    def mark_done(self, request: HttpRequest, queryset: Any) -> None:
        self._bulk(
            request,
            queryset,
            "mark_as_done",
            "Marked as done",
            "only RUNNING, FAILED or DISABLED tasks can be marked done",
        )

    @admin.action(description="Disable", permissions=["operate"])
    def disable(self, request: HttpRequest, queryset: Any) -> None:
        self._bulk(
            request,
            queryset,
            "disable_task",
            "Disabled",
            "running tasks and disabled ones are left alone",
        )


@admin.register(Worker)
class WorkerAdmin(ReadOnlyAdmin):
    list_display = ["worker_id", "host", "state", "running", "last_seen", "first_seen"]
    list_filter = ["disabled"]
    search_fields = ["worker_id", "host"]
    actions = ["disable"]
    fields = ["worker_id", "host", "state", "running", "first_seen", "last_seen", "info"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> Any:
        running = (
            Task.objects.filter(worker_running=OuterRef("pk"), status__in=list(ACTIVE))
            .order_by()
            .values("worker_running")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return super().get_queryset(request).annotate(n_running=Subquery(running))

    @admin.display(description="running tasks", ordering="n_running")
    def running(self, worker: Worker) -> int:
        return getattr(worker, "n_running", None) or 0

    @admin.display(description="last seen", ordering="last_active")
    def last_seen(self, worker: Worker) -> str:
        return when(worker.last_active)

    @admin.display(description="first seen", ordering="started")
    def first_seen(self, worker: Worker) -> str:
        return when(worker.started)

    @admin.action(
        description="Disable worker (its running tasks finish; it gets no new work)",
        permissions=["operate"],
    )
    def disable(self, request: HttpRequest, queryset: Any) -> None:
        workers = list(queryset.filter(disabled=False))
        for worker in workers:
            disable_worker(Ctx.make(), worker=worker.worker_id)
            self.log_change(request, worker, "Disabled the worker")
        self.message_user(request, f"Disabled {len(workers)} workers.", messages.SUCCESS)


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    """Run-time resource limits (they override the configured ones); saved through
    ``update_resource``. Deleting is not offered: the service has no such call."""

    list_display = ["name", "amount"]
    list_display_links = ["name"]
    # Editable in the list only for those with change permission (operators).
    list_editable = ["amount"]
    search_fields = ["name"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["name"] if obj is not None else []

    def has_add_permission(self, request: HttpRequest) -> bool:
        return may_operate(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_operate(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Resource, form: Any, change: bool) -> None:
        if not update_resource(Ctx.make(), resource=obj.name, amount=obj.amount):
            raise ValueError(f"update_resource refused {obj.name}={obj.amount}")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Create a token (its secret is shown once, in the confirmation message) and revoke
    it; only a digest of the secret is stored."""

    list_display = ["name", "role", "user", "prefix", "created", "last_used", "revoked_at"]
    list_filter = ["role", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = ["prefix", "created", "last_used", "revoked_at"]
    actions = ["revoke_tokens"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["name", "role", "user"]
        return ["name", "role", "user", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The role and owner of an existing token are fixed: revoke and create another.
        return self.readonly_fields if obj is None else [*self.readonly_fields, "role", "user"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        new = create_token(obj.name, obj.role, user=obj.user)
        obj.pk = new.token.pk
        obj.__dict__.update(
            {f.attname: getattr(new.token, f.attname) for f in ApiToken._meta.concrete_fields}
        )
        self.message_user(
            request,
            f"The secret of token {obj.name!r} is {new.secret} — copy it now, it is not "
            "stored and will not be shown again.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected tokens (at once)")
    def revoke_tokens(self, request: HttpRequest, queryset: Any) -> None:
        count = sum(revoke(token) for token in queryset)
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)

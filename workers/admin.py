"""Admin for pipeline runs (read-only, linked to history) and schedules (validated on save).

"Run now" (schedules) starts a run with trigger "manual"; it needs the operator role.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import IntegrityError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from scheduler.permissions import can_operate
from workers import runs
from workers.models import PipelineRun, PipelineSchedule, RunTrigger
from workers.run_requests import RunRequestError, check


@admin.register(PipelineRun)
class PipelineRunAdmin(admin.ModelAdmin):
    list_display = ["id", "family", "module", "state", "outcome", "trigger", "created_at"]
    list_filter = ["state", "trigger", "family"]
    search_fields = ["family", "module", "root_task_id", "requested_by"]
    readonly_fields = [f.name for f in PipelineRun._meta.fields] + ["history"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="history")
    def history(self, run: PipelineRun) -> str:
        if not run.root_task_id:
            return "-"
        try:
            url = reverse("pipelines_history:by_task_id", args=[run.root_task_id])
        except NoReverseMatch:
            return "-"
        return format_html('<a href="{}">runs of the root task</a>', url)


@admin.register(PipelineSchedule)
class PipelineScheduleAdmin(admin.ModelAdmin):
    list_display = ["name", "family", "when", "missed", "enabled", "last_fired_at", "last_result"]
    list_filter = ["enabled", "missed", "from_settings"]
    search_fields = ["name", "family", "module"]
    readonly_fields = ["from_settings", "last_fired_at", "last_result", "created_at"]
    actions = ["run_now"]

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return can_operate(request.user)

    @admin.action(description="Run now (trigger: manual)", permissions=["operate"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[PipelineSchedule]) -> None:
        for schedule in queryset:
            try:
                checked = check(schedule.module, schedule.family, schedule.params, schedule.workers)
                run = runs.start(
                    checked,
                    trigger=RunTrigger.MANUAL,
                    schedule=schedule,
                    requested_by=request.user.get_username(),
                )
            except RunRequestError as exc:
                self.message_user(request, f"{schedule}: {exc.message}", messages.ERROR)
            except IntegrityError:
                message = f"{schedule}: a run of this schedule is still queued or running"
                self.message_user(request, message, messages.ERROR)
            else:
                self.message_user(request, f"{schedule}: queued run #{run.pk}", messages.SUCCESS)

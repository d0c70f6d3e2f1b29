"""Task history in the admin: read-only (it is written only by the recorder)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .formatting import duration, when
from .models import Event, Run


class ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EventInline(ReadOnly, admin.TabularInline):
    model = Event
    fields = ["time", "old_status", "status", "cause", "worker", "host", "user"]
    readonly_fields = fields
    extra = 0

    @admin.display(description="at")
    def time(self, event: Event) -> str:
        return when(event.at)


@admin.register(Run)
class RunAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["id", "task_id", "family", "status", "outcome", "host", "started", "took"]
    list_filter = ["status", "outcome"]
    search_fields = ["task_id", "family"]
    show_full_result_count = False
    inlines = [EventInline]
    fields = [
        "task_id",
        "family",
        "params",
        "host",
        "worker",
        "status",
        "outcome",
        "opened",
        "started",
        "ended",
        "took",
        "error",
    ]
    readonly_fields = fields

    @admin.display(description="opened", ordering="opened_at")
    def opened(self, run: Run) -> str:
        return when(run.opened_at)

    @admin.display(description="started", ordering="started_at")
    def started(self, run: Run) -> str:
        return when(run.started_at)

    @admin.display(description="ended", ordering="ended_at")
    def ended(self, run: Run) -> str:
        return when(run.ended_at)

    @admin.display(description="duration", ordering="duration")
    def took(self, run: Run) -> str:
        return duration(run.duration)


@admin.register(Event)
class EventAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["id", "run", "time", "old_status", "status", "cause", "user"]
    list_filter = ["status", "cause"]
    search_fields = ["run__task_id", "user"]
    list_select_related = ["run"]
    show_full_result_count = False
    ordering = ["-id"]

    @admin.display(description="at", ordering="at")
    def time(self, event: Event) -> str:
        return when(event.at)

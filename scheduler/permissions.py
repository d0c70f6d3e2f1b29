"""Roles, in one place, for every adapter (REST API, dashboard, admin actions).

- viewer: reads (dashboard pages, read endpoints);
- operator: re-enable, retry, mark done, disable workers, edit resources;
- worker: the Luigi protocol's write methods.

Django views ask ``can_view(user)`` / ``can_operate(user)``; DRF views use the
permission classes below.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission

OPERATE_PERMISSION = "pipelines_scheduler.operate_scheduler"
VIEW_PERMISSION = "pipelines_scheduler.view_task"


def anonymous_read() -> bool:
    return bool(getattr(settings, "SCHEDULER_ANONYMOUS_READ", True))


def can_view(user: Any) -> bool:
    if anonymous_read():
        return True
    if user is None or not user.is_authenticated:
        return False
    return user.has_perm(VIEW_PERMISSION) or user.has_perm(OPERATE_PERMISSION)


def can_operate(user: Any) -> bool:
    return user is not None and user.is_authenticated and user.has_perm(OPERATE_PERMISSION)


class CanView(BasePermission):
    """Read access: the viewer role (or anonymous reads where the setting allows them)."""

    message = "Viewing the scheduler needs the viewer role."

    def has_permission(self, request: Any, view: Any) -> bool:
        return can_view(request.user)


class CanOperate(BasePermission):
    """Operator actions: POSTs that change tasks, workers or resources."""

    message = "This action needs the operator role (pipelines_scheduler.operate_scheduler)."

    def has_permission(self, request: Any, view: Any) -> bool:
        return can_operate(request.user)


class ReadOrOperate(BasePermission):
    """Safe methods for viewers, everything else for operators."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return can_view(request.user)
        return can_operate(request.user)

"""Roles, in one place, for every adapter (Luigi's protocol, REST API, dashboard,
admin actions).

- viewer: reads (dashboard pages, read endpoints, /metrics);
- operator: re-enable, retry, mark done, disable workers, edit resources;
- worker: the Luigi protocol's write methods.

A caller's roles come from its API token (``scheduler.auth``) or, for a Django
user (a browser session), from permissions: ``pipelines_scheduler.view_task``
(the seeded "Scheduler viewers" group) gives viewer,
``pipelines_scheduler.operate_scheduler`` (the "Operators" group) operator and
viewer; superusers have both. The worker role is for tokens only.

Django views ask ``can_view(user)`` / ``can_operate(user)``; DRF views use the
permission classes below.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .auth import conf
from .auth.identity import TokenUser
from .auth.roles import Role, expand

OPERATE_PERMISSION = "pipelines_scheduler.operate_scheduler"
VIEW_PERMISSION = "pipelines_scheduler.view_task"


def anonymous_read() -> bool:
    return conf.anonymous_read()


def roles_of(user: Any) -> frozenset[Role]:
    """The roles of a TokenUser or a Django user (none for anonymous or inactive)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return frozenset()
    if isinstance(user, TokenUser):
        return user.roles
    if not user.is_active:
        return frozenset()
    roles = set()
    if user.has_perm(OPERATE_PERMISSION):
        roles.add(Role.OPERATOR)
    if user.has_perm(VIEW_PERMISSION):
        roles.add(Role.VIEWER)
    return expand(roles)


def can_view(user: Any) -> bool:
    return anonymous_read() or Role.VIEWER in roles_of(user)


def can_operate(user: Any) -> bool:
    return Role.OPERATOR in roles_of(user)


def can_work(user: Any) -> bool:
    return Role.WORKER in roles_of(user)


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

    message = "Reading needs the viewer role; changing needs the operator role."

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return can_view(request.user)
        return can_operate(request.user)

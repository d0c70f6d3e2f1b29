from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, User

from scheduler.auth.tokens import create_token


@pytest.fixture
def token() -> Callable[..., str]:
    """``token(role, name=..., user=None)`` -> a new token's secret."""

    def make(role: str, name: str = "", user: User | None = None) -> str:
        return create_token(name or f"test {role}", role, user=user).secret

    return make


@pytest.fixture
def people(db: None) -> dict[str, User]:
    """A viewer, an operator (the seeded groups) and a user with no role."""
    viewer = User.objects.create_user("vera")
    viewer.groups.add(Group.objects.get(name="Scheduler viewers"))
    operator = User.objects.create_user("otto")
    operator.groups.add(Group.objects.get(name="Operators"))
    nobody = User.objects.create_user("nora")
    return {"viewer": viewer, "operator": operator, "nobody": nobody}

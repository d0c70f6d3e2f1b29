from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User

from tests.runs.cluster import ALLOWED


@pytest.fixture(autouse=True)
def allowed_modules(settings):
    settings.PIPELINES_ALLOWED_MODULES = ALLOWED.split(",")


@pytest.fixture
def operator(db) -> User:
    user = User.objects.create_user("operator")
    user.user_permissions.add(Permission.objects.get(codename="operate_scheduler"))
    return user


@pytest.fixture
def as_operator(client, operator):
    client.force_login(operator)
    return client

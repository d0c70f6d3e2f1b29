"""The OpenAPI schema against the API: schemathesis generates requests from the schema
(a bounded number per operation) and checks every answer against it: no 5xx, only
documented status codes, bodies of the documented shape."""

from __future__ import annotations

import base64

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from tests.api.conftest import failed
from tests.urls import at

schema = schemathesis.openapi.from_wsgi(at("/api/v1/schema/?format=json"), get_wsgi_application())
# Requests that follow the schema (bad input has its own tests, per endpoint).
schema.config.generation.update(modes=[GenerationMode.POSITIVE], with_security_parameters=False)
# Random (fuzzing) cases only, max_examples per operation: bounded and quick.
schema.config.phases.update(phases=["fuzzing"])


@pytest.fixture
def keep_connection():
    """The WSGI app closes database connections after each request (Django's
    test client does not); the test's transaction must survive them."""
    signals = (request_started, request_finished)
    for signal in signals:
        signal.disconnect(close_old_connections)
    yield
    for signal in signals:
        signal.connect(close_old_connections)


@pytest.fixture
def some_tasks(sched, users, keep_connection):
    failed(sched, "Load_a", worker="w1", resources={"db": 1})
    sched.add("Report_b", deps=["Load_a", "Missing_c"], worker="w1")
    sched.add("Run_d", worker="w2")
    assert sched.next_id("w2") == "Run_d"


@pytest.mark.django_db
@schema.include(method="GET").parametrize()
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_reads_conform_to_the_schema(case, some_tasks):
    case.call_and_validate()


@pytest.mark.django_db
@schema.include(method=["POST", "PATCH"]).parametrize()
@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_actions_conform_to_the_schema(case, some_tasks, users, settings):
    # As an operator (HTTP basic auth: no CSRF token needed), so actions do act;
    # a fast hasher, as the password is checked on every request.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    users["operator"].set_password("secret")
    users["operator"].save()
    token = base64.b64encode(b"op:secret").decode()
    case.call_and_validate(headers={"Authorization": f"Basic {token}"})

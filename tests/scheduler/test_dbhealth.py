"""A lost PostgreSQL server is answered 503 at once, on both doors, never 500."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connections
from django.test import Client

from scheduler import dbhealth, views
from scheduler.middleware import DatabaseUnavailableMiddleware


@pytest.fixture(autouse=True)
def clean_state():
    dbhealth.reset()
    yield
    dbhealth.reset()


def test_lock_waits_and_other_errors_are_not_outages():
    assert not dbhealth.is_outage(OperationalError("deadlock detected"))
    assert not dbhealth.is_outage(OperationalError("database is locked"))


@pytest.mark.django_db
def test_an_outage_is_answered_503_without_waiting_for_the_database(monkeypatch):
    monkeypatch.setattr(type(connections["default"]), "vendor", "postgresql")
    probes = []
    monkeypatch.setattr(dbhealth, "_probe", lambda: probes.append(1) or False)
    dbhealth.note_failure(OperationalError("connection failed: Connection refused"))

    status, body = views.dispatch("POST", "ping", '{"worker": "w"}')
    assert status == 503 and "Connection refused" in body["detail"]
    reply = Client().get("/api/v1/history/runs/")
    assert reply.status_code == 503 and reply["Retry-After"] == "1"
    assert len(probes) <= 1  # at most one probe per PROBE_INTERVAL

    monkeypatch.setattr(dbhealth, "_probe", lambda: True)
    monkeypatch.setattr(dbhealth, "_last_probe", 0.0)
    assert dbhealth.unavailable() is None  # back: calls go through again


def test_a_view_meeting_a_lost_connection_answers_503(rf, monkeypatch):
    monkeypatch.setattr(type(connections["default"]), "vendor", "postgresql")
    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    error = OperationalError("server closed the connection unexpectedly")
    response = middleware.process_exception(rf.get("/"), error)
    assert response is not None and response.status_code == 503
    assert middleware.process_exception(rf.get("/"), OperationalError("deadlock detected")) is None

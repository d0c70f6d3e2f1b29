"""The pipelines embedded in a host site: under /pipelines/, next to the host's own
app, namespace and templates called "history", with the host's own login."""

from __future__ import annotations

import json

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.shortcuts import resolve_url
from django.urls import get_resolver, reverse

from scheduler import rpc
from tests.embedded_host.history.models import Event
from tests.urls import at

pytestmark = pytest.mark.django_db

OURS = ("pipelines_scheduler", "pipelines_history", "pipelines_visualiser", "pipelines_workers")


def test_the_pipelines_are_mounted_under_the_prefix():
    assert at("/") == "/pipelines/"
    assert reverse("pipelines_history:recent") == "/pipelines/history"
    assert reverse("pipelines_workers:run-list") == "/pipelines/api/v1/runs/"
    assert reverse("pipelines_scheduler:api", args=["ping"]) == "/pipelines/api/ping"


def test_the_hosts_own_history_app_namespace_and_templates_still_work(client):
    assert apps.get_app_config("history").name == "tests.embedded_host.history"
    assert apps.get_app_config("pipelines_history").name == "history"
    user = User.objects.create_user("host-user", password="pw")
    Event.objects.create(title="a host event")
    assert reverse("history:index") == "/history/"
    # the host's own login protects the host's page
    assert client.get("/history/")["Location"].startswith("/accounts/login/")
    assert (
        client.post("/accounts/login/", {"username": "host-user", "password": "pw"}).status_code
        == 302
    )
    page = client.get("/history/").content.decode()
    assert 'class="host-site"' in page and "a host event" in page
    assert user.is_authenticated
    # and the pipelines' history pages use their own templates, not the host's
    ours = client.get(reverse("pipelines_history:recent")).content.decode()
    assert "host-site" not in ours and "Recent runs" in ours


def test_tables_labels_and_namespaces_do_not_clash():
    tables = set(connection.introspection.table_names())
    assert {"history_event", "pipelines_history_event", "pipelines_history_run"} <= tables
    namespaces = set(get_resolver().namespace_dict)
    assert {"history", "admin", *OURS} <= namespaces
    for namespace in namespaces - {"history", "admin"}:
        assert namespace.startswith("pipelines_"), f"unprefixed URL namespace {namespace!r}"


def test_every_link_on_the_pipelines_pages_honours_the_prefix(client):
    rpc.call("add_task", {"task_id": "A_1", "worker": "w", "family": "A", "status": "DONE"})
    landing = client.get(at("/")).content.decode()
    assert "--scheduler-url http://testserver/pipelines</code>" in landing
    history = client.get(reverse("pipelines_history:recent")).content.decode()
    for page in (landing, history):
        for href in _hrefs(page):
            login = resolve_url(settings.LOGIN_URL)  # the host's own login page
            allowed = ("/pipelines/", "/admin/", settings.STATIC_URL, login, "?", "http")
            assert href.startswith(allowed), href
    run_id = json.loads(client.get(at("/api/v1/history/runs/")).content)["results"][0]["id"]
    redirect = client.get(at("/history/by_task_id/A_1"))
    assert redirect["Location"] == f"/pipelines/history/by_id/{run_id}"


def test_luigis_protocol_answers_under_the_prefix(client):
    reply = client.post(
        at("/api/add_task"), {"data": json.dumps({"task_id": "B_1", "worker": "w"})}
    )
    assert reply.status_code == 200
    listed = client.post(at("/api/task_list"), {"data": json.dumps({"status": "PENDING"})})
    assert "B_1" in listed.json()["response"]


def test_runs_are_triggered_under_the_prefix_with_the_hosts_users(client, settings):
    settings.PIPELINES_ALLOWED_MODULES = ["examples.daily"]
    operator = User.objects.create_user("op")
    operator.user_permissions.add(Permission.objects.get(codename="operate_scheduler"))
    client.force_login(operator)
    body = {"module": "examples.daily", "family": "DailyReport", "params": {"date": "2026-11-21"}}
    created = client.post(at("/api/v1/runs/"), body, content_type="application/json").json()
    assert created["url"] == f"/pipelines/api/v1/runs/{created['id']}/"
    assert created["history_url"].startswith("/pipelines/history/by_task_id/DailyReport_")


def test_admin_lists_the_pipelines_models_in_the_hosts_admin(admin_client):
    index = admin_client.get(reverse("admin:index")).content.decode()
    for url in (
        "pipelines_scheduler/task/",
        "pipelines_workers/pipelineschedule/",
        "history/event/",
    ):
        assert f"/admin/{url}" in index


def _hrefs(page: str) -> list[str]:
    import re

    return re.findall(r'href="([^"]+)"', page)

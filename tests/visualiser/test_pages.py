"""The dashboard's page shells, the graph layout endpoint, and Luigi's HEAD / check."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from django.contrib.auth.models import Permission, User

from scheduler import rpc
from tests.urls import at


def add(task_id: str, family: str, status: str = "PENDING", deps: list[str] | None = None):
    rpc.call(
        "add_task",
        {"task_id": task_id, "worker": "w", "family": family, "status": status, "deps": deps},
    )


@pytest.mark.django_db
def test_overview_renders_counts_and_the_bundle(client):
    add("A_1", "A")
    add("B_1", "B", "DONE")
    page = client.get(at("/"))
    assert page.status_code == 200
    text = page.content.decode()
    assert re.search(r'data-status="PENDING"[^>]*><span class="n">1</span>', text)
    assert re.search(r'data-status="DONE"[^>]*><span class="n">1</span>', text)
    assert re.search(r'data-status="FAILED"[^>]*><span class="n">0</span>', text)
    assert 'data-page="overview"' in text
    assert "/static/dashboard/dashboard.js" in text
    assert f'href="{at("/history")}"' in text
    assert "csrftoken" in page.cookies


@pytest.mark.django_db
def test_head_is_luigis_health_check(client):
    assert client.head(at("/")).status_code == 204


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "page"),
    [
        (at("/task/?id=a%2Fb%20c"), "task"),
        (at("/task/graph/?id=a%2Fb%20c"), "graph"),
        (at("/workers/"), "workers"),
        (at("/resources/"), "resources"),
    ],
)
def test_page_shells_name_their_page(client, path, page):
    reply = client.get(path)
    assert reply.status_code == 200
    text = reply.content.decode()
    assert f'data-page="{page}"' in text
    assert 'data-can-operate="false"' in text
    if page in ("task", "graph"):
        assert 'data-task-id="a/b c"' in text


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", [at("/task/"), at("/task/graph/?id="), at(f"/task/?id={'x' * 1025}")]
)
def test_task_pages_need_an_id(client, path):
    reply = client.get(path)
    assert reply.status_code == 400
    assert b"?id=<task id>" in reply.content


@pytest.mark.django_db
def test_operators_are_told_apart(client):
    user = User.objects.create_user("op")
    user.user_permissions.add(Permission.objects.get(codename="operate_scheduler"))
    client.force_login(user)
    text = client.get(at("/")).content.decode()
    assert 'data-can-operate="true"' in text
    assert "op (operator)" in text


@pytest.mark.django_db
def test_pages_ask_for_a_login_without_anonymous_reads(client, settings):
    settings.SCHEDULER_ANONYMOUS_READ = False
    reply = client.get(at("/workers/"))
    assert reply.status_code == 302
    assert reply["Location"].endswith("?next=" + at("/workers/"))
    assert client.get(at("/dashboard/graph-layout/?id=x")).status_code == 403


@pytest.mark.django_db
def test_graph_layout_puts_dependents_above_dependencies(client):
    add("E", "Extract", "DONE")
    add("T", "Transform", "FAILED", deps=["E"])
    add("L/1", "Load", deps=["T"])
    reply = client.get(at(f"/dashboard/graph-layout/?id={quote('T', safe='')}"))
    assert reply.status_code == 200
    data = reply.json()
    nodes = {n["id"]: n for n in data["nodes"]}
    assert set(nodes) == {"E", "T", "L/1"}
    ids = [n["id"] for n in data["nodes"]]
    assert {(ids[a], ids[b]) for a, b in data["edges"]} == {("T", "E"), ("L/1", "T")}
    assert nodes["L/1"]["y"] < nodes["T"]["y"] < nodes["E"]["y"]
    assert (nodes["T"]["status"], nodes["T"]["family"]) == ("FAILED", "Transform")
    assert data["message"] == "" and not data["grouped"] and not data["truncated"]

    up = client.get(at("/dashboard/graph-layout/?id=T&direction=upstream")).json()
    assert {n["id"] for n in up["nodes"]} == {"T", "E"}


@pytest.mark.django_db
def test_graph_layout_refuses_bad_input(client):
    add("T", "Transform")
    missing = client.get(at("/dashboard/graph-layout/?id=nope"))
    assert missing.status_code == 404
    assert missing.json()["error"] == "not found"
    bad = client.get(at("/dashboard/graph-layout/?id=T&direction=sideways"))
    assert bad.status_code == 400
    assert "sideways" in bad.json()["detail"]
    assert client.get(at("/dashboard/graph-layout/")).status_code == 400

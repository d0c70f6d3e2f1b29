"""Each role against each endpoint family, in-process (Django's door to the protocol,
the REST API, pages, /metrics, the admin). Authentication is on in every test."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client, override_settings

from scheduler import rpc
from scheduler.auth import conf
from scheduler.auth.roles import Role
from scheduler.models import StatusEvent, Task

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("auth_on"),
]


@pytest.fixture
def auth_on():
    with override_settings(SCHEDULER_AUTH=True, SCHEDULER_ANONYMOUS_READ=None):
        yield


# One method per family of Luigi's protocol, with arguments that succeed.
READ = ("task_list", {})
WORK = ("add_worker", {"worker": "w1", "info": {}})
OPERATE = ("update_resource", {"resource": "db", "amount": 2})


def call(client: Client, method: str, arguments: dict, **headers: str):
    return client.post(f"/api/{method}", {"data": json.dumps(arguments)}, headers=headers)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def basic(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def test_every_protocol_method_has_one_family():
    families = [rpc.READ_METHODS, rpc.WORK_METHODS, rpc.OPERATE_METHODS]
    assert set(rpc.METHODS) == set().union(*families)
    assert sum(len(f) for f in families) == len(rpc.METHODS)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("viewer", {"read"}),
        ("worker", {"read", "work"}),
        ("operator", {"read", "operate"}),
    ],
)
def test_protocol_tokens_by_role(client: Client, token, role: str, allowed: set[str]):
    secret = token(role)
    for family, (method, arguments) in {"read": READ, "work": WORK, "operate": OPERATE}.items():
        reply = call(client, method, arguments, **bearer(secret))
        expected = 200 if family in allowed else 403
        assert reply.status_code == expected, (family, reply.content)
        if expected == 403:
            assert (
                f"needs the {dict(read='viewer', work='worker', operate='operator')[family]}"
                in (reply.json()["detail"])
            )


def test_protocol_without_or_with_bad_credentials_is_401_with_a_basic_challenge(
    client: Client, token
):
    for headers in ({}, bearer("plt_not-a-token"), {"Authorization": "Digest x"}):
        reply = call(client, *READ, **headers)
        assert reply.status_code == 401, headers
        assert reply["WWW-Authenticate"].startswith("Basic ")
    # Basic, as Luigi's client sends credentials in scheduler_url: the token is the password,
    # or the user name with no password.
    secret = token("worker")
    assert call(client, *WORK, **basic("anything", secret)).status_code == 200
    assert call(client, *WORK, **basic(secret, "")).status_code == 200


def test_anonymous_reads_follow_the_setting_and_the_bind_address(client: Client):
    try:
        conf.set_bind_address("0.0.0.0")
        assert call(client, *READ).status_code == 401
        conf.set_bind_address("127.0.0.1")
        assert call(client, *READ).status_code == 200  # loopback: anonymous reads by default
        assert call(client, *WORK).status_code == 401  # never anonymous writes
        with override_settings(SCHEDULER_ANONYMOUS_READ=False):
            assert call(client, *READ).status_code == 401
        conf.set_bind_address("unix")
        assert conf.anonymous_read()
    finally:
        conf.set_bind_address(None)
    with override_settings(SCHEDULER_AUTH=False):
        assert call(client, *WORK).status_code == 200  # auth off: open, as luigid


def test_revocation_takes_effect_at_once(client: Client, token):
    from scheduler.auth.models import ApiToken
    from scheduler.auth.tokens import revoke

    secret = token("worker", name="box-1")
    assert call(client, *WORK, **bearer(secret)).status_code == 200
    stored = ApiToken.objects.get(name="box-1")
    assert stored.digest != secret and secret not in stored.digest  # only a digest is kept
    assert stored.last_used is not None
    revoke(stored)
    assert call(client, *WORK, **bearer(secret)).status_code == 401


def test_token_of_a_deactivated_user_stops_working(client: Client, token, people):
    secret = token("operator", user=people["operator"])
    assert call(client, *OPERATE, **bearer(secret)).status_code == 200
    people["operator"].is_active = False
    people["operator"].save()
    assert call(client, *OPERATE, **bearer(secret)).status_code == 401


def test_operator_actions_by_token_are_recorded_with_the_linked_user(client: Client, token, people):
    secret = token("operator", user=people["operator"])
    worker = token("worker")
    add = {"worker": "w1", "task_id": "T1", "status": "FAILED", "family": "T"}
    assert call(client, "add_task", add, **bearer(worker)).status_code == 200
    assert call(client, "mark_as_done", {"task_id": "T1"}, **bearer(secret)).status_code == 200
    assert Task.objects.get(pk="T1").status == "DONE"
    assert StatusEvent.objects.filter(task_id="T1", new_status="DONE").get().user == "otto"


def test_sessions_on_the_protocol(people):
    viewer, operator, nobody = Client(), Client(enforce_csrf_checks=True), Client()
    viewer.force_login(people["viewer"])
    operator.force_login(people["operator"])
    nobody.force_login(people["nobody"])
    assert call(viewer, *READ).status_code == 200
    assert call(viewer, *OPERATE, HTTP_X_REQUESTED_WITH="x").status_code == 403
    assert call(nobody, *READ).status_code == 403
    # An operator's session may act from this site's pages only (no forgeable GET links).
    xhr = {"X-Requested-With": "XMLHttpRequest"}
    assert call(operator, *OPERATE, **xhr).status_code == 200
    assert call(operator, *OPERATE).status_code == 403
    assert call(operator, *WORK, **xhr).status_code == 403  # the worker role is for tokens


def test_rest_api_roles(client: Client, token, people):
    url = "/api/v1/history/runs/"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=bearer("plt_bad")).status_code == 401
    for role in Role:
        assert client.get(url, headers=bearer(token(role.value))).status_code == 200, role
    assert client.get(url, headers=basic("prometheus", token("viewer"))).status_code == 200
    # History's API is read-only; operator actions need the operator role.
    assert client.post(url, headers=bearer(token("operator"))).status_code == 405
    action = "/api/v1/tasks/Nope/retry/"
    assert client.post(action, headers=bearer(token("viewer"))).status_code == 403
    assert client.post(action, headers=bearer(token("worker"))).status_code == 403
    assert client.post(action, headers=bearer(token("operator"))).status_code == 404
    session = Client(enforce_csrf_checks=True)
    session.force_login(people["viewer"])
    assert session.get(url).status_code == 200
    session.force_login(people["nobody"])
    assert session.get(url).status_code == 403


def test_pages_need_the_viewer_role(client: Client, people):
    reply = client.get("/history")
    assert reply.status_code == 302 and reply["Location"].startswith("/admin/login/?next=")
    assert client.head("/").status_code == 204  # Luigi's health check stays open
    client.force_login(people["nobody"])
    assert client.get("/history").status_code == 403
    client.force_login(people["viewer"])
    assert client.get("/history").status_code == 200


def test_metrics_needs_the_viewer_role_unless_public(client: Client, token):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer(token("viewer"))).status_code == 200
    assert client.get("/metrics", headers=bearer("plt_bad")).status_code == 401
    with override_settings(SCHEDULER_METRICS_PUBLIC=True):
        assert client.get("/metrics").status_code == 200


def test_request_bodies_over_the_limit_get_413(client: Client, token):
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        big = {"data": json.dumps({"worker": "w", "info": {"x": "y" * 5000}})}
        reply = client.post("/api/add_worker", big, headers=bearer(token("worker")))
        assert reply.status_code == 413
        assert "1000 bytes" in reply.json()["detail"]
        assert client.post("/api/v1/history/runs/", big).status_code == 413


def test_admin_creates_a_token_showing_the_secret_once_and_revokes_it(db: None):
    from django.contrib.auth.models import User

    from scheduler.auth.models import ApiToken

    admin = Client(enforce_csrf_checks=True)
    admin.force_login(User.objects.create_superuser("root", password="pw-root-123"))
    page = admin.get("/admin/pipelines_scheduler/apitoken/add/")
    csrf = page.cookies["csrftoken"].value
    form = {"name": "box-2", "role": "worker", "user": ""}
    # CSRF protection on the admin's forms.
    assert admin.post("/admin/pipelines_scheduler/apitoken/add/", form).status_code == 403
    reply = admin.post(
        "/admin/pipelines_scheduler/apitoken/add/",
        {**form, "csrfmiddlewaretoken": csrf},
        follow=True,
    )
    assert reply.status_code == 200
    shown = [str(m) for m in reply.context["messages"]]
    secret = next(word for m in shown for word in m.split() if word.startswith("plt_"))
    stored = ApiToken.objects.get(name="box-2")
    assert stored.role == "worker" and stored.prefix == secret[:10]
    assert (
        secret
        not in admin.get(
            f"/admin/pipelines_scheduler/apitoken/{stored.pk}/change/"
        ).content.decode()
    )
    api = Client()
    with override_settings(SCHEDULER_AUTH=True):
        assert call(api, *WORK, **bearer(secret)).status_code == 200
        admin.post(
            "/admin/pipelines_scheduler/apitoken/",
            {
                "action": "revoke_tokens",
                "_selected_action": [stored.pk],
                "csrfmiddlewaretoken": csrf,
            },
        )
        stored.refresh_from_db()
        assert stored.revoked
        assert call(api, *WORK, **bearer(secret)).status_code == 401

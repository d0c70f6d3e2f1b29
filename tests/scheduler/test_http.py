"""The /api/<method> transport: Luigi's request encoding, envelopes and clear 4xx errors."""

import json

import pytest

from scheduler.models import Task


def post(client, method, data=None, raw=None):
    body = {"data": raw if raw is not None else json.dumps(data or {})}
    return client.post(f"/api/{method}", body)


@pytest.mark.django_db
def test_post_form_encoded_data_like_luigi_workers(client):
    response = post(client, "add_task", {"task_id": "A_1", "worker": "w", "family": "A"})
    assert response.status_code == 200
    assert response.json() == {"response": None}
    assert response["Content-Type"].startswith("application/json")
    assert Task.objects.filter(pk="A_1").exists()


@pytest.mark.django_db
def test_get_with_query_data_like_the_visualiser(client):
    post(client, "add_task", {"task_id": "A_1", "worker": "w", "family": "A"})
    response = client.get("/api/task_list", {"data": json.dumps({"status": "PENDING"})})
    assert response.status_code == 200
    assert list(response.json()["response"]) == ["A_1"]


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["", "?data=", "?data=%20"])
def test_missing_or_empty_data_is_an_empty_object(client, query):
    response = client.get(f"/api/is_paused{query}")
    assert response.json() == {"response": {"paused": False}}
    assert client.get(f"/api/pause{query}").status_code == 200


@pytest.mark.django_db
def test_infinity_is_accepted(client):
    raw = '{"worker": "w", "task_family": "B", "batched_args": ["d"], "max_batch_size": Infinity}'
    assert post(client, "add_task_batcher", raw=raw).status_code == 200


@pytest.mark.django_db
def test_unknown_arguments_are_ignored(client):
    response = post(client, "ping", {"worker": "w", "surprise": 1})
    assert response.json() == {"response": {"rpc_messages": []}}


@pytest.mark.django_db
def test_unknown_method_is_404(client):
    response = client.get("/api/no_such_method")
    assert response.status_code == 404
    assert "no_such_method" in response.json()["detail"]


@pytest.mark.django_db
def test_internal_hook_is_not_exposed(client):
    assert client.get("/api/update_metrics_task_started").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "raw", "named"),
    [
        ("add_task", "{not json", "data"),
        ("add_task", "[1, 2]", "data"),
        ("add_task", json.dumps({"task_id": "A"}), "worker"),
        ("add_task", json.dumps({"worker": "w"}), "task_id"),
        ("add_task", json.dumps({"worker": "w", "task_id": 5}), "task_id"),
        ("add_task", json.dumps({"worker": "w", "task_id": "A", "status": "NOPE"}), "status"),
        ("add_task", json.dumps({"worker": "w", "task_id": "A", "deps": "B"}), "deps"),
        ("add_task", json.dumps({"worker": "w", "task_id": "A", "priority": "high"}), "priority"),
        ("add_task", json.dumps({"worker": "w", "task_id": "A", "resources": [1]}), "resources"),
        ("add_task", json.dumps({"worker": "w", "task_id": "A", "params": "x"}), "params"),
        ("add_task", json.dumps({"worker": "w", "task_id": "A" * 2000}), "task_id"),
        ("add_task", json.dumps({"worker": "w", "task_id": "A\u0000B"}), "task_id"),
        # Longer than their columns: refused before they reach the database.
        ("add_task", json.dumps({"worker": "w", "task_id": "A", "family": "F" * 256}), "family"),
        ("add_task", json.dumps({"worker": "w", "task_id": "A", "module": "m" * 256}), "module"),
        ("add_task", json.dumps({"worker": "w", "task_id": "A", "batch_id": "b" * 65}), "batch_id"),
        (
            "add_tasks",
            json.dumps({"worker": "w", "tasks": [{"task_id": "A", "family": "F" * 256}]}),
            "tasks[0].family",
        ),
        ("add_task_batcher", json.dumps({"worker": "w", "task_family": "F" * 256}), "task_family"),
        ("update_resource", json.dumps({"resource": "r" * 256, "amount": 1}), "resource"),
        ("update_resources", json.dumps({"r" * 256: 1}), "resource"),
        ("get_work", json.dumps({}), "worker"),
        ("get_work", json.dumps({"worker": "w", "current_tasks": "x"}), "current_tasks"),
        ("add_worker", json.dumps({"worker": "w", "info": 5}), "info"),
        ("task_list", json.dumps({"status": "WHATEVER"}), "status"),
        ("task_list", json.dumps({"upstream_status": "X"}), "upstream_status"),
        ("set_worker_processes", json.dumps({"worker": "w", "n": "3"}), "n"),
        ("fetch_error", json.dumps({}), "task_id"),
        ("update_resources", json.dumps({"db": -1}), "db"),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(client, method, raw, named):
    response = post(client, method, raw=raw)
    assert response.status_code == 400, response.content
    body = response.json()
    assert named in body["detail"]
    # Nothing half-written, and the server still answers.
    assert not Task.objects.exists()
    assert post(client, "ping", {"worker": "w"}).status_code == 200


@pytest.mark.django_db
def test_invalid_utf8_body_is_a_400(client):
    response = client.generic(
        "POST", "/api/ping", b"data=%FF%FE", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code in (200, 400)
    assert post(client, "ping", {"worker": "w"}).status_code == 200


@pytest.mark.django_db
def test_options_preflight(client):
    assert client.options("/api/ping").status_code == 204


@pytest.mark.django_db
def test_add_worker_accepts_pairs_and_objects(client):
    pairs = [["host", "box"], ["workers", 2], ["first_task", "Top__99914b932b"]]
    assert post(client, "add_worker", {"worker": "w", "info": pairs}).status_code == 200
    assert post(client, "add_worker", {"worker": "w", "info": {"workers": 3}}).status_code == 200
    listed = post(client, "worker_list").json()["response"]
    assert listed[0]["host"] == "box"
    assert listed[0]["workers"] == 3
    assert listed[0]["first_task_display_name"] == "Top__99914b932b"


@pytest.mark.django_db
def test_messages_reach_the_worker_on_ping(client):
    post(client, "add_worker", {"worker": "w", "info": {}})
    post(client, "set_worker_processes", {"worker": "w", "n": 3})
    sent = post(client, "send_scheduler_message", {"worker": "w", "task": "T", "content": "hi"})
    message_id = sent.json()["response"]["message_id"]
    assert message_id
    assert post(client, "worker_list").json()["response"][0]["num_unread_rpc_messages"] == 2
    messages = post(client, "ping", {"worker": "w"}).json()["response"]["rpc_messages"]
    assert messages[0] == {"name": "set_worker_processes", "kwargs": {"n": 3}}
    assert messages[1]["name"] == "dispatch_scheduler_message"
    assert messages[1]["kwargs"] == {"task_id": "T", "message_id": message_id, "content": "hi"}
    assert post(client, "ping", {"worker": "w"}).json()["response"]["rpc_messages"] == []


@pytest.mark.django_db
def test_scheduler_message_response_round_trip(client):
    post(client, "add_task", {"task_id": "T", "worker": "w", "family": "T"})
    args = {"task_id": "T", "message_id": "m1"}
    post(client, "add_scheduler_message_response", {**args, "response": "ok"})
    first = post(client, "get_scheduler_message_response", args).json()["response"]
    assert first == {"response": "ok"}
    again = post(client, "get_scheduler_message_response", args).json()["response"]
    assert again == {"response": None}


@pytest.mark.django_db
def test_send_messages_disabled(client, settings):
    settings.SCHEDULER = {"send_messages": "false"}
    sent = post(client, "send_scheduler_message", {"worker": "w", "task": "T", "content": "x"})
    assert sent.json() == {"response": {"message_id": None}}


@pytest.mark.django_db
def test_has_task_history_is_a_bare_bool(client):
    assert post(client, "has_task_history").json()["response"] in (True, False)

"""Every answer of the REST API outside its endpoints is JSON in the error shape too."""

from __future__ import annotations

from tests.urls import at


def test_unknown_paths_under_api_v1_are_json_404s_for_any_method(db, api):
    for method in ("get", "post", "patch", "delete"):
        response = getattr(api, method)(at("/api/v1/nothing/here/"))
        assert response.status_code == 404, method
        assert response.json() == {
            "error": "not_found",
            "detail": f"no REST API endpoint at {at('/api/v1/nothing/here/')!r}",
        }


def test_luigi_protocol_still_answers_next_to_the_rest_api(db, client):
    response = client.get(at("/api/task_list"), {"data": "{}"})
    assert response.status_code == 200 and response.json() == {"response": {}}

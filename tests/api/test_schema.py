"""The OpenAPI schema describes the REST API (and not Luigi's protocol, which has its own spec)."""

import pytest
import yaml

from tests.urls import at


@pytest.mark.django_db
def test_schema_lists_the_history_endpoints(client):
    response = client.get(at("/api/v1/schema/"))
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert at("/api/v1/history/runs/") in paths
    assert at("/api/v1/history/runs/{id}/") in paths
    run_list = paths[at("/api/v1/history/runs/")]["get"]
    assert {"page", "family"} <= {p["name"] for p in run_list.get("parameters", [])}


@pytest.mark.django_db
def test_docs_page_is_served_without_a_cdn(client):
    page = client.get(at("/api/v1/docs/"))
    assert page.status_code == 200
    assert b"/static/drf_spectacular_sidecar/" in page.content

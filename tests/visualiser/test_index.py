import pytest

from scheduler import rpc
from tests.urls import at


@pytest.mark.django_db
def test_landing_page_counts_tasks_by_status(client):
    rpc.call("add_task", {"task_id": "A_1", "worker": "w", "family": "A"})
    rpc.call("add_task", {"task_id": "B_1", "worker": "w", "family": "B", "status": "DONE"})
    page = client.get(at("/"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "<td>PENDING</td><td>1</td>" in text
    assert "<td>DONE</td><td>1</td>" in text
    assert at("/history") in text


@pytest.mark.django_db
def test_head_is_luigis_health_check(client):
    assert client.head(at("/")).status_code == 204

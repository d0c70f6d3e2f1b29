"""Routes of the REST API (included under /api/v1/)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from . import views


class IdRouter(SimpleRouter):
    """Ids may contain '/', so ``{id}/graph/`` could also read as the id ``x/graph``:
    the routes of detail actions are tried before the plain detail route. (So the
    detail of a task whose id is ``counts`` or ends in ``/graph``, ``/retry``, ... is
    out of reach by path; its list item, graph and actions are not.)"""

    routes = [
        SimpleRouter.routes[0],  # list
        SimpleRouter.routes[1],  # list actions (tasks/counts/)
        SimpleRouter.routes[3],  # detail actions (tasks/{id}/graph/, .../retry/)
        SimpleRouter.routes[2],  # detail
    ]


router = IdRouter()
router.register("tasks", views.TaskViewSet, basename="task-api")
router.register("workers", views.WorkerViewSet, basename="worker-api")
router.register("resources", views.ResourceViewSet, basename="resource-api")

urlpatterns = router.urls

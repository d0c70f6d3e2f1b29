"""The /history pages and their JSON twins under /api/v1/history/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import api, views

app_name = "pipelines_history"

router = SimpleRouter()
router.register("runs", api.RunViewSet, basename="run-api")
router.register("families", api.FamilyViewSet, basename="family-api")
router.register("events", api.EventViewSet, basename="event-api")

urlpatterns = [
    path("history", views.recent, name="recent"),
    path("history/by_id/<int:run_id>", views.by_id, name="run"),
    path("history/by_task_id/<path:task_id>", views.by_task_id, name="by_task_id"),
    path("history/by_name/<str:name>", views.by_name, name="by_name"),
    path("history/by_params/<str:name>", views.by_params, name="by_params"),
    path("api/v1/history/", include(router.urls)),
]

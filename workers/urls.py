"""Pipeline runs under /api/v1/runs/ (namespace ``pipelines_workers``)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import api

app_name = "pipelines_workers"

router = SimpleRouter()
router.register("runs", api.RunViewSet, basename="run")

urlpatterns = [
    path("api/v1/", include(router.urls)),
]

from django.urls import include, path

from . import views

app_name = "pipelines_scheduler"

urlpatterns = [
    path("api/v1/", include("scheduler.api.urls")),
    path("api/<str:method>", views.api, name="api"),
    path("metrics", views.metrics, name="metrics"),
]

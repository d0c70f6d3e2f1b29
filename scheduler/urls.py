from django.urls import path

from . import views

app_name = "pipelines_scheduler"

urlpatterns = [
    path("api/<str:method>", views.api, name="api"),
    path("metrics", views.metrics, name="metrics"),
]

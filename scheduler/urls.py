from django.urls import include, path

from . import views

app_name = "scheduler"

urlpatterns = [
    path("api/v1/", include("scheduler.api.urls")),
    path("api/<str:method>", views.api, name="api"),
]

from django.urls import path

from . import views

app_name = "pipelines_visualiser"

urlpatterns = [
    path("", views.index, name="index"),
]

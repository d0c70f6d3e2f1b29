from django.urls import path

from . import views

app_name = "pipelines_visualiser"

urlpatterns = [
    path("", views.index, name="index"),
    path("task/", views.task, name="task"),
    path("task/graph/", views.task_graph, name="graph"),
    path("workers/", views.workers, name="workers"),
    path("resources/", views.resources, name="resources"),
    path("dashboard/graph-layout/", views.graph_layout, name="graph-layout"),
]

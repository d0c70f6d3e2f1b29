from django.urls import path

from . import views

app_name = "visualiser"

urlpatterns = [
    path("", views.index, name="index"),
]

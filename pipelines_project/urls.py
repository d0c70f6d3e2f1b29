"""The standalone project: the admin, and the pipelines' routes at the root."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("pipelines_project.embed_urls")),
]

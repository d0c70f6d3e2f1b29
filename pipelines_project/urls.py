from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("scheduler.urls")),
    path("", include("history.urls")),
    path("", include("visualiser.urls")),
]

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from scheduler.api import errors as api_errors

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("scheduler.urls")),
    path("", include("history.urls")),
    path("", include("visualiser.urls")),
    # Last: any other path under /api/v1/ answers a JSON 404 (the REST API's error shape).
    re_path(r"^api/v1/", api_errors.not_found),
]

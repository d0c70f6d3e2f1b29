"""Every route of the pipelines apps, in one list: include it under any prefix.

    urlpatterns = [..., path("pipelines/", include("pipelines_project.embed_urls"))]

This project's own ``urls.py`` includes it at the root (plus the admin), so the
standalone server and a host site serve the same routes. Each app has its own
URL namespace named like its app label (``pipelines_scheduler``,
``pipelines_history``, ``pipelines_visualiser``, ``pipelines_workers``), so a
host's own "history" app and namespace do not clash. Every link and redirect is
made with ``reverse()`` / ``{% url %}``, so the prefix is honoured.

Luigi clients take the prefix without a trailing slash:
``--scheduler-url http://host/pipelines`` (Luigi appends ``/api/<method>``).
"""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from scheduler.api import errors as api_errors

urlpatterns = [
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="pipelines_schema"),
    path(
        "api/v1/docs/",
        SpectacularSwaggerView.as_view(url_name="pipelines_schema"),
        name="pipelines_api_docs",
    ),
    path("", include("workers.urls")),
    path("", include("scheduler.urls")),
    path("", include("history.urls")),
    path("", include("visualiser.urls")),
    # Last: any other path under api/v1/ answers a JSON 404 (the REST API's error shape).
    re_path(r"^api/v1/", api_errors.not_found),
]

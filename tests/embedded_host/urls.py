from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("history/", include("tests.embedded_host.history.urls")),
    path("pipelines/", include("pipelines_project.embed_urls")),
]

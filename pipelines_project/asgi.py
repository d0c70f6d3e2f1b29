"""ASGI entry point: HTTP goes to Django, WebSockets to the visualiser's routing."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipelines_project.settings")

# Set up Django (apps, models) before importing anything that touches them.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from scheduler.asgi import LuigiProtocolApp  # noqa: E402
from scheduler.auth.websocket import ViewerRequired  # noqa: E402
from visualiser.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": LuigiProtocolApp(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(ViewerRequired(URLRouter(websocket_urlpatterns)))
        ),
    }
)

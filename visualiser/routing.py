"""WebSocket routes of the dashboard (live updates are built on these)."""

websocket_urlpatterns: list = []

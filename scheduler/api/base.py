"""What every view of the pipelines' REST API uses, whatever the host site's own
``REST_FRAMEWORK`` settings say: the apps embed into sites that have their own."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import SessionAuthentication
from rest_framework.renderers import JSONRenderer

from ..auth.drf import ApiTokenAuthentication
from ..permissions import ReadOrOperate
from .errors import exception_handler


class PipelinesApiMixin:
    """Token then session authentication, the viewer/operator rule, JSON, and the one
    error shape (``{"error", "detail"}``). Views may still set their own permissions."""

    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]
    permission_classes = [ReadOrOperate]
    renderer_classes = [JSONRenderer]

    def get_exception_handler(self) -> Any:
        return exception_handler

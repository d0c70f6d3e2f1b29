"""The REST API's authentication class for API tokens."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from .identity import REALM, BadCredentials, user_for_header


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>`` or Basic with the token as the password
    (or as the user name with an empty password). No header: the next class
    (sessions) decides; a bad or revoked token: 401."""

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        try:
            user = user_for_header(request.META.get("HTTP_AUTHORIZATION"))
        except BadCredentials as exc:
            raise AuthenticationFailed(str(exc)) from None
        if user is None:
            return None
        return user, user.token

    def authenticate_header(self, request: Any) -> str:
        return REALM

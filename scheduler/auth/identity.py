"""Who is calling: an API token (``Authorization`` header) or a Django user."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser

from .roles import Role, expand
from .tokens import find_active

REALM = 'Basic realm="pipelines scheduler", charset="UTF-8"'


class BadCredentials(Exception):
    """Credentials were sent but are not valid (unknown, revoked, malformed)."""


def secret_from_header(header: str) -> str | None:
    """The token secret in an ``Authorization`` header, or None when there is none.

    ``Bearer <secret>``; or Basic, as Luigi's client sends credentials found in
    ``scheduler_url`` (``http://name:<secret>@host/``, the user name is free
    text; or ``http://<secret>@host/``)."""
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BadCredentials("malformed Basic credentials") from None
        username, _, password = decoded.partition(":")
        return password or username
    raise BadCredentials("unsupported Authorization scheme: use Bearer or Basic")


class TokenUser:
    """``request.user`` for a call made with a token: its role's permissions and,
    for a token linked to a user, that user's name (for attribution)."""

    is_active = True
    is_anonymous = False
    is_authenticated = True
    is_staff = False
    is_superuser = False

    def __init__(self, token: Any) -> None:
        self.token = token
        self.roles = expand({Role(token.role)})
        self.linked_user = token.user
        self.username = token.user.get_username() if token.user else f"token:{token.name}"
        self.pk = self.id = token.user.pk if token.user else None

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        from ..permissions import OPERATE_PERMISSION, VIEW_PERMISSION

        wanted = {VIEW_PERMISSION: Role.VIEWER, OPERATE_PERMISSION: Role.OPERATOR}.get(perm)
        return wanted is not None and wanted in self.roles

    def has_perms(self, perms: Any, obj: Any = None) -> bool:
        return all(self.has_perm(perm, obj) for perm in perms)

    def has_module_perms(self, app_label: str) -> bool:
        return False


def user_for_header(header: str | None) -> TokenUser | None:
    """The token's user for an ``Authorization`` header; None without one.

    Raises BadCredentials for a header whose token is unknown or revoked."""
    if not header:
        return None
    secret = secret_from_header(header)
    token = find_active(secret) if secret else None
    if token is None:
        raise BadCredentials("unknown or revoked API token")
    return TokenUser(token)


@dataclass(frozen=True)
class Caller:
    user: Any  # TokenUser, a Django user, or AnonymousUser
    by_session: bool = False

    @classmethod
    def anonymous(cls) -> Caller:
        return cls(AnonymousUser())

"""Creating, finding and revoking API tokens.

A secret is ``plt_`` followed by 43 URL-safe random characters (256 bits), so
it can sit in a URL's user-info part unescaped. It is stored as its SHA-256
digest: a random secret of that size needs no slow password hash, and a lookup
is one indexed query. Nothing is cached in a server process, so a revocation
takes effect on the next request everywhere.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from .models import ApiToken
from .roles import Role

PREFIX = "plt_"
# last_used is written at most this often per token (not on every call).
LAST_USED_RESOLUTION = timedelta(seconds=60)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str


def create_token(name: str, role: str, user: Any = None) -> NewToken:
    """A new token; ``secret`` is the only copy of the secret there will ever be."""
    role = Role(role).value
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name, role=role, user=user, digest=digest(secret), prefix=secret[:10]
    )
    return NewToken(token, secret)


def revoke(token: ApiToken) -> bool:
    """Revoke a token; False when it already was."""
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token.refresh_from_db(fields=["revoked_at"])
    return bool(updated)


def find_active(secret: str) -> ApiToken | None:
    """The live token with this secret (one indexed query), or None."""
    if not secret or len(secret) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(digest=digest(secret)).first()
    if token is None or token.revoked_at is not None:
        return None
    if token.user is not None and not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used is None or now - token.last_used >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        token.last_used = now
    return token

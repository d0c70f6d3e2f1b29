"""The access rule of Luigi's protocol (``/api/<method>``), for both doors
(``scheduler.views.api`` and the ASGI fast path).

With authentication on, read methods need the viewer role (or anonymous reads),
a worker's write methods the worker role, the visualiser's actions the operator
role. No or bad credentials: 401 with a ``WWW-Authenticate: Basic`` challenge (so
Luigi's client, given credentials in ``scheduler_url``, and browsers know what to
send); a known caller without the role: 403.

A browser session (cookies) may call write methods only when the request shows it
came from a page of this site (``X-Requested-With: XMLHttpRequest``, which jQuery
adds and another site cannot send without a CORS preflight, or a valid CSRF
token): the protocol's GETs would otherwise be forgeable by a link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import rpc
from ..permissions import anonymous_read, roles_of
from .conf import auth_enabled
from .identity import REALM, BadCredentials, user_for_header
from .roles import Role, protocol_role


@dataclass(frozen=True)
class Refusal:
    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Access:
    #: The name operator actions are recorded with (None: anonymous or auth off).
    username: str | None = None


def _unauthorized(detail: str) -> Refusal:
    return Refusal(
        401,
        {"error": "authentication required", "detail": detail},
        {"WWW-Authenticate": REALM},
    )


def required_role(method: str) -> Role:
    return protocol_role(method, rpc.READ_METHODS, rpc.WORK_METHODS, rpc.OPERATE_METHODS)


def check(
    method: str,
    authorization: str | None,
    session_user: Any = None,
    from_page: bool = False,
) -> Access | Refusal:
    """May this call go ahead? ``authorization`` is the header (it wins over a
    session); ``session_user`` the session's user; ``from_page`` whether a
    session call carries the same-site evidence described above."""
    if not auth_enabled():
        return Access()
    try:
        user = user_for_header(authorization)
    except BadCredentials as exc:
        return _unauthorized(f"{exc}; send a valid API token (Bearer, or Basic as password)")
    by_session = False
    if user is None and session_user is not None and session_user.is_authenticated:
        user, by_session = session_user, True
    roles = set(roles_of(user))
    if anonymous_read():
        roles.add(Role.VIEWER)
    needed = required_role(method)
    if needed not in roles:
        if user is None:
            return _unauthorized(
                f"{method} needs the {needed} role: send an API token "
                "(e.g. in scheduler_url as http://name:TOKEN@host:port/)"
            )
        have = ", ".join(sorted(roles)) or "none"
        return Refusal(
            403,
            {
                "error": "forbidden",
                "detail": f"{method} needs the {needed} role; this caller has: {have}",
            },
        )
    if by_session and needed is not Role.VIEWER and not from_page:
        return Refusal(
            403,
            {
                "error": "forbidden",
                "detail": f"{method} from a browser session needs the X-Requested-With: "
                "XMLHttpRequest header or a CSRF token",
            },
        )
    return Access(username=user.get_username() if user is not None else None)

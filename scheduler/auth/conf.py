"""Authentication settings, read lazily.

- ``SCHEDULER_AUTH`` (env ``SCHEDULER_AUTH``, default off): tokens or a session are
  needed for Luigi's protocol and the REST API. Off, the protocol is open as
  luigid's is; ``runscheduler`` then refuses a non-loopback address.
- ``SCHEDULER_ANONYMOUS_READ`` (default: automatic): reads without credentials.
  Automatic means on with authentication off, and with it on only while
  ``runscheduler`` listens on loopback or a unix socket (off anywhere else, and
  off when served by another server, whose address is unknown).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings

# Set by runscheduler before it serves: the TCP address, or "unix" for a socket.
_bind_address: str | None = None


def set_bind_address(address: str | None) -> None:
    global _bind_address
    _bind_address = address


def is_loopback(address: str) -> bool:
    host = address.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serving_locally() -> bool:
    return _bind_address is not None and (_bind_address == "unix" or is_loopback(_bind_address))


def auth_enabled() -> bool:
    return bool(getattr(settings, "SCHEDULER_AUTH", False))


def anonymous_read() -> bool:
    value = getattr(settings, "SCHEDULER_ANONYMOUS_READ", None)
    if value is not None:
        return bool(value)
    return not auth_enabled() or serving_locally()

"""The roles and what each may do. Pure Python: no Django imports."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    #: Reads: the dashboard, history, Luigi's visualiser, read endpoints, /metrics.
    VIEWER = "viewer"
    #: Re-enable, retry, mark done, disable tasks and workers, edit resources.
    OPERATOR = "operator"
    #: A worker machine: the protocol's write methods (add_task, get_work, ping...).
    WORKER = "worker"


# Every role may also read; operators and workers are distinct (a worker token
# cannot mark tasks done; an operator cannot pose as a worker).
_IMPLIES: dict[Role, frozenset[Role]] = {
    Role.VIEWER: frozenset({Role.VIEWER}),
    Role.OPERATOR: frozenset({Role.OPERATOR, Role.VIEWER}),
    Role.WORKER: frozenset({Role.WORKER, Role.VIEWER}),
}


def expand(roles: frozenset[Role] | set[Role]) -> frozenset[Role]:
    """The roles together with those they imply."""
    result: set[Role] = set()
    for role in roles:
        result |= _IMPLIES[role]
    return frozenset(result)


def protocol_role(
    method: str,
    read: frozenset[str],
    work: frozenset[str],
    operate: frozenset[str],
) -> Role:
    """The role a Luigi protocol method needs (unknown methods: viewer, then 404)."""
    if method in work:
        return Role.WORKER
    if method in operate:
        return Role.OPERATOR
    return Role.VIEWER

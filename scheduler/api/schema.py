"""OpenAPI: the error answers every REST operation may give, in one component."""

from __future__ import annotations

from typing import Any

ERROR_COMPONENT = {
    "type": "object",
    "description": 'Every error: {"error": "<short code>", "detail": "<what was wrong>"}.',
    "properties": {
        "error": {
            "type": "string",
            "description": "invalid, parse_error, not_found, permission_denied, "
            "not_authenticated, method_not_allowed, conflict, unavailable, ...",
        },
        "detail": {"type": "string", "description": "What was wrong, naming the parameter."},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "Validation errors: each parameter's messages.",
        },
    },
    "required": ["error", "detail"],
}

_NO_NUL = "^[^\\x00]*$"
_TIME = {
    "anyOf": [{"type": "number"}, {"type": "string", "format": "date-time"}],
    "description": "Seconds since the epoch, or an ISO 8601 time (UTC if no zone).",
}
_TEXT = {"type": "string", "pattern": _NO_NUL}
_ID = {"type": "string", "pattern": "^[^\\x00]+$", "maxLength": 1024}
_INT64 = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}


def _comma_list(items: dict) -> dict:
    return {"schema": {"type": "array", "items": items}, "style": "form", "explode": False}


# The exact shape of every query and path parameter, by name (the views' own
# parsing is the authority; this tells clients, and the schema tests, what passes).
PARAMETERS: dict[str, dict] = {
    "page": {"schema": {"type": "integer", "minimum": 1}},
    "page_size": {"schema": {"type": "integer", "minimum": 1, "maximum": 2**31}},
    "updated_after": {"schema": _TIME},
    "updated_before": {"schema": _TIME},
    "since": {"schema": _TIME},
    "until": {"schema": _TIME},
    "search": {"schema": _TEXT},
    "family": {"schema": _TEXT},
    "task_id": {"schema": _ID},
    "worker_id": {"schema": _ID},
    "name": {"schema": {**_ID, "maxLength": 255}},
    "host": {"schema": _TEXT},
    "worker": {"schema": _TEXT},
    "cause": {"schema": _TEXT},
    "user": {"schema": _TEXT},
    "outcome": {"schema": _TEXT},
    "run": {"schema": _INT64},
    "id": {"schema": _INT64},
    "data": {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "propertyNames": {"pattern": _NO_NUL},
                    "additionalProperties": {"type": "string", "pattern": _NO_NUL},
                }
            }
        }
    },
}


def _tighten(path: str, parameter: dict) -> None:
    name = parameter.get("name")
    tasks = "/api/v1/tasks/" in path  # wherever the API is mounted
    if name == "status" and tasks:
        from ..service.queries import DISPLAY_STATUSES

        parameter.update(_comma_list({"type": "string", "enum": list(DISPLAY_STATUSES)}))
    elif name == "family" and tasks:
        parameter.update(_comma_list({"type": "string", "pattern": "^[^\\x00,]+$"}))
    elif name == "status":
        parameter["schema"] = _TEXT
    elif name == "max_nodes":
        from ..conf import get_config

        parameter["schema"] = {
            "type": "integer",
            "minimum": 1,
            "maximum": get_config().max_graph_nodes,
        }
    elif name in PARAMETERS:
        shape = PARAMETERS[name]
        if "content" in shape:
            parameter.pop("schema", None)
        parameter.update(shape)


_WHEN = {
    "400": "Bad input (the detail names the parameter).",
    "401": "No credentials, or unknown or revoked ones (a Basic challenge comes along).",
    "403": "Not allowed for this user (viewer or operator role needed).",
    "404": "No such object (or page).",
    "405": "Method not allowed.",
    "409": "The action does not apply to the current state.",
    "503": "The database is unavailable; retry.",
}


def add_error_responses(result: dict, generator: Any, request: Any, public: Any) -> dict:
    """drf-spectacular postprocessing hook: document the error shape on every operation,
    the exact shape of the parameters, and that reads need no authentication where
    anonymous reads are allowed."""
    from ..permissions import anonymous_read

    anonymous = anonymous_read()
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_COMPONENT
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                _tighten(path, parameter)
            responses = operation.setdefault("responses", {})
            codes = ["400", "401", "403", "404", "405", "503"]
            if method in ("post", "patch", "put", "delete"):
                codes.append("409")
            for code in codes:
                responses.setdefault(code, {"description": _WHEN[code], "content": ref})
            security = operation.get("security")
            if anonymous and method == "get" and security and {} not in security:
                security.append({})
    return result

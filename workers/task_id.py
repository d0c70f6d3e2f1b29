"""Task ids, computed exactly as Luigi computes them (spec section 5).

``Family_<summary>_<hash>``: the hash is the MD5 of the canonical JSON of the
significant public parameters' text values; the summary is the first 16
characters of the first 3 of those values (by sorted name), with every
character outside ``[A-Za-z0-9_]`` replaced by ``_``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

SUMMARY_PARAMS = 3
SUMMARY_VALUE_CHARS = 16
HASH_CHARS = 10
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def canonical_params(params: Mapping[str, str]) -> str:
    """The hash input: compact JSON, keys sorted, non-ASCII escaped."""
    return json.dumps(params, separators=(",", ":"), sort_keys=True, ensure_ascii=True)


def task_id_str(family: str, params: Mapping[str, str]) -> str:
    """The task id of ``family`` with significant public parameter texts ``params``."""
    digest = hashlib.md5(canonical_params(params).encode("utf-8"), usedforsecurity=False)
    names = sorted(params)[:SUMMARY_PARAMS]
    summary = _UNSAFE.sub("_", "_".join(params[name][:SUMMARY_VALUE_CHARS] for name in names))
    return f"{family}_{summary}_{digest.hexdigest()[:HASH_CHARS]}"

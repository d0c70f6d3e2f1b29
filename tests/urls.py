"""Paths of the pipelines' pages and APIs wherever they are mounted.

The standalone project mounts them at ``/``; a host site (tests/embedded_host)
under a prefix. Tests build paths with :func:`at` instead of hard-coding ``/``.
"""

from __future__ import annotations

from django.urls import reverse


def prefix() -> str:
    """Where the pipelines' URL list is included: ``/`` or e.g. ``/pipelines/``."""
    return reverse("pipelines_visualiser:index")


def at(path: str) -> str:
    """``at("/history")`` -> ``/history`` here, ``/pipelines/history`` in a host."""
    return prefix() + path.lstrip("/")

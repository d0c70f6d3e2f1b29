from django import template

from .. import formatting

register = template.Library()


@register.filter
def when(timestamp: float | None) -> str:
    return formatting.when(timestamp)


@register.filter
def duration(seconds: float | None) -> str:
    return formatting.duration(seconds)


@register.filter
def percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction:.1%}"


@register.filter
def pairs(mapping: dict | None) -> list[tuple]:
    """Sorted (name, value) pairs (``.items`` would look up a parameter named items)."""
    return sorted((mapping or {}).items())

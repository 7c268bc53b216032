from __future__ import annotations

import math

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def mm(value, digits: int = 1) -> str:
    """A metric in mm with fixed decimals; an em dash when missing."""
    if value is None:
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if not math.isfinite(number) else f"{number:.{int(digits)}f}"


@register.filter
def ms(value) -> str:
    """Milliseconds per image, 3 significant digits ('0.82', '12.3', '240'); an em dash when missing."""
    if value in (None, ""):  # "": a row without figures (the template's missing attribute)
        return "—"
    number = float(value)
    return f"{number:.0f}" if number >= 100 else f"{number:.1f}" if number >= 10 else f"{number:.2f}"


@register.filter
def params(value) -> str:
    """A parameter count as '32.0M', '1.20B', '950K'; an em dash when missing."""
    if value in (None, ""):
        return "—"
    number = int(value)
    for size, unit, digits in ((10**9, "B", 2), (10**6, "M", 1), (10**3, "K", 0)):
        if number >= size:
            return f"{number / size:.{digits}f}{unit}"
    return str(number)


@register.filter
def get(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def metric_label(key: str) -> str:
    from evaluator.metric_names import METRIC_LABELS

    meta = METRIC_LABELS.get(key)
    return meta.label if meta else key


@register.filter
def short_metric(label: str) -> str:
    """'MPJPE (body, 14 joints)' -> 'MPJPE': a header's second line stays short."""
    return str(label).split(" (")[0]


@register.simple_tag
def status_badge(submission) -> str:
    return mark_safe(
        f'<span class="badge status-{submission.status}" data-status-badge>{submission.get_status_display()}</span>'
    )

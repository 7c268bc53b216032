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

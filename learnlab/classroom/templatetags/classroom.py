from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def duration_short(value: timedelta) -> str:
    """3 s, 4 min, 1 h 5 min: how long, at a glance."""
    seconds = max(0, int(value.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"

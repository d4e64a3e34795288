from django import template

from learnlab.ticker.services import clock_is_ticking

register = template.Library()


@register.simple_tag
def clock_ticking() -> bool:
    """Whether the lab clock ticked within the last few seconds, for pages that show a warning
    when nothing is being renewed."""
    return clock_is_ticking()

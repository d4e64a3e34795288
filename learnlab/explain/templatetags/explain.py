"""``{% recent_denials sandbox %}``: the sandbox page's recent errors, each with Explain."""

import re

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from learnlab.denials.selectors import denials_recent

register = template.Library()


@register.inclusion_tag("explain/_recent_denials.html")
def recent_denials(sandbox, limit=5):
    return {"denials": denials_recent(sandbox=sandbox, limit=limit) if sandbox else []}


EXPLAIN_LINE = re.compile(
    r"^(Explain[^:\n]{0,80}: )"
    r"(/explain/(?:denials/[A-Za-z0-9_-]{1,22}|errors/[A-Za-z0-9.]{1,64}))$",
    re.MULTILINE,
)


@register.filter(needs_autoescape=True)
def explain_links(text, autoescape=True):
    """Terminal output, escaped, with each ``Explain...: /explain/...`` line made a link."""
    escaped = conditional_escape(text) if autoescape else str(text)
    return mark_safe(  # noqa: S308 - escaped above; only our own fixed-shape paths become links
        EXPLAIN_LINE.sub(r'\1<a class="terminal-explain" href="\2">\2</a>', str(escaped))
    )

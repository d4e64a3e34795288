"""``{% recent_denials sandbox %}``: the sandbox page's recent errors, each with Explain;
``|explain_links``: the terminal's Explain lines as links; ``{% explain_error text step %}``:
Explain links beside an AWS error a page shows."""

import re

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from learnlab.denials.selectors import denials_recent
from learnlab.denials.services import DENIAL_CODES
from learnlab.explain.errors import explanation_for

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


ERROR_CODE = re.compile(r"\(([A-Za-z0-9.]{1,64})\)")


@register.inclusion_tag("explain/_error_links.html", takes_context=True)
def explain_error(context, text, step=None):
    """Explain links for one AWS error shown on a page (a console form's failed call): what
    the code means, tied to ``step``; for a denial, the sandbox's latest trace."""
    match = ERROR_CODE.search(str(text or ""))
    code = match[1] if match else ""
    explanation = explanation_for(code) if code else None
    sandbox = context.get("sandbox")
    denial = None
    if code in DENIAL_CODES and sandbox is not None:
        recent = denials_recent(sandbox=sandbox, limit=1)
        denial = recent[0] if recent else None
    lab = context.get("lab")
    return {
        "code": code if explanation else "",
        "denial": denial,
        "lab_slug": getattr(lab, "slug", ""),
        "step_slug": getattr(step, "slug", ""),
    }

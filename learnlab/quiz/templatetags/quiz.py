import re

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()
CODE_SPAN = re.compile(r"`([^`]+)`")


@register.filter
def code_spans(text: str) -> str:
    """Escape the text, then show `backticked` names (commands, ARNs, JSON) as code."""
    return mark_safe(CODE_SPAN.sub(r"<code>\1</code>", escape(text)))  # noqa: S308 - escaped first


@register.filter
def shuffled_for(item, learner_id):
    """``item``'s options in ``learner_id``'s order, each as (identity, option)."""
    return item.shuffled(learner_id)

from django import template
from django.utils.html import format_html

from learnlab.live.selectors import topic_versions
from learnlab.live.services import topics_sign

register = template.Library()


@register.simple_tag
def live_topics(*parts) -> str:
    """``data-live-topics``/``data-live-versions`` for an element that static/js/live.js keeps
    live: ``{% live_topics "class" classroom.pk "member" membership.pk %}`` (kind, id pairs;
    a pair whose id is None is left out). The versions are the ones this render saw."""
    keys = [f"{kind}:{ident}" for kind, ident in zip(parts[::2], parts[1::2], strict=True)]
    keys = [key for key, ident in zip(keys, parts[1::2], strict=True) if ident not in (None, "")]
    if not keys:
        return ""
    versions = topic_versions(keys)
    return format_html(
        'data-live-topics="{}" data-live-versions="{}"',
        topics_sign(keys),
        ",".join(str(versions[key]) for key in keys),
    )

from django import template
from django.contrib.sessions.backends.base import SessionBase
from django.utils.html import format_html

from learnlab.live.selectors import topic_versions
from learnlab.live.services import topics_sign

register = template.Library()


def _session_key(context) -> str | None:
    """The key of the session this page is rendered for, made now if the visitor has none yet
    (saved and sent as a cookie with this answer). None where a request has no saved session
    (the embed relay's per-request one): that page keeps its safety poll alone."""
    request = context.get("request")
    session = getattr(request, "session", None)
    if not isinstance(session, SessionBase):
        return None
    if not session.session_key:
        session.save()
        session.modified = True  # SessionMiddleware sends the new cookie with this answer
    return session.session_key


@register.simple_tag(takes_context=True)
def live_topics(context, *parts) -> str:
    """``data-live-topics``/``data-live-versions`` for an element that static/js/live.js keeps
    live: ``{% live_topics "class" classroom.pk "member" membership.pk %}`` (kind, id pairs;
    a pair whose id is None is left out). The versions are the ones this render saw; the
    token is bound to this request's session (live/services.py)."""
    keys = [f"{kind}:{ident}" for kind, ident in zip(parts[::2], parts[1::2], strict=True)]
    keys = [key for key, ident in zip(keys, parts[1::2], strict=True) if ident not in (None, "")]
    session_key = _session_key(context)
    if not keys or not session_key:
        return ""
    versions = topic_versions(keys)
    return format_html(
        'data-live-topics="{}" data-live-versions="{}"',
        topics_sign(keys, session_key),
        ",".join(str(versions[key]) for key in keys),
    )

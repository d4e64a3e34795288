"""Live pages: what changed, so a page asks the server only when something can have.

A writer calls ``topic_changed(key)`` where a page's state changes (one line at the call site);
the topic's ``Change`` row gets version+1. A page carries its topics signed (``topics_sign``,
the ``live_topics`` template tag), bound to the session it was rendered for (a copy of the
token is refused without that session's cookie), with the versions it was rendered at;
``/live/wait`` (the asyncio front in ``site/web.py``, or ``live.views.wait`` under runserver)
answers as soon as one of them moves, or 204 after a while, and the page then fetches its
fragment (static/js/live.js).

Topics: ``creds:<account id>`` (a sandbox's instance credentials: issued, renewed, withdrawn,
instances attached or detached, its class's clock), ``class:<pk>`` (a class's clock, hints,
announcement, labs, close), ``member:<pk>`` (one membership: stuck, reset, rewind),
``board:<pk>`` (what the class board shows), ``learner:<pk>`` (step results; fanned out to
boards by the app that knows classes, ``topic_fanout``).
"""

import logging
from collections.abc import Callable, Iterable

from django.core import signing
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from learnlab.live.models import Change

log = logging.getLogger(__name__)

SALT = "learnlab.live.topics"
TOKEN_MAX_AGE = 24 * 3600  # a page left open longer gets a 403 and fetches a fresh token
MAX_TOPICS = 8

_fanouts: dict[str, Callable[[list[str]], Iterable[str]]] = {}
_tracked: dict[str, set] = {}


class BadTopics(ValueError):
    """A wait request's topics or versions cannot be read; the message says what to do, and
    ``status`` is the answer's (403: not a token of ours or expired, 400: malformed)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def topic_fanout(prefix: str, more: Callable[[list[str]], Iterable[str]]) -> None:
    """When ``<prefix>:<id>`` changes, so do the topics ``more([id, ...])`` names: how a higher
    app (classroom) hears a lower one's change (labs' step results) without labs knowing it."""
    _fanouts[prefix] = more


def topic_changed(*keys: str) -> None:
    """Each topic's version + 1. Never fails the caller: a live page that misses a change
    catches up at its safety poll."""
    keys = list(dict.fromkeys(k for k in keys if k))
    for prefix, more in _fanouts.items():
        ids = [k.split(":", 1)[1] for k in keys if k.startswith(prefix + ":")]
        if ids:
            try:
                keys += [k for k in more(ids) if k not in keys]
            except DatabaseError:
                log.warning("live: the %s fan-out failed", prefix, exc_info=True)
    if not keys:
        return
    now = timezone.now()
    try:
        with transaction.atomic():
            known = set(Change.objects.filter(key__in=keys).values_list("key", flat=True))
            Change.objects.filter(key__in=known).update(version=F("version") + 1, changed_at=now)
        missing = [Change(key=k, version=1, changed_at=now) for k in keys if k not in known]
        if missing:
            try:
                with transaction.atomic():
                    Change.objects.bulk_create(missing)
            except IntegrityError:  # another writer created one meanwhile: bump them instead
                with transaction.atomic():
                    Change.objects.filter(key__in=[c.key for c in missing]).update(
                        version=F("version") + 1, changed_at=now
                    )
    except DatabaseError:
        log.warning("live: could not record a change of %s", keys, exc_info=True)


def topics_track(name: str, entries: set) -> None:
    """For a poller that sees a whole state each time (the ticker's attached instances):
    ``entries`` are tuples whose first item is a topic; every topic whose tuples differ from
    the last call's changes. The first call in a process only remembers."""
    before = _tracked.get(name)
    _tracked[name] = set(entries)
    if before is not None:
        topic_changed(*sorted({entry[0] for entry in before ^ _tracked[name]}))


def session_binding(session_key: str, secret: str | None = None) -> str:
    """What a token carries of the session it was rendered for: a keyed hash of the session
    key (never the key itself: a token sits in the page's HTML and in access logs)."""
    return salted_hmac(
        SALT + ".session", session_key, secret=secret, algorithm="sha256"
    ).hexdigest()[:32]


def topics_sign(keys: list[str], session_key: str, *, secret: str | None = None) -> str:
    """The page's token: its topics, bound to the session it was rendered for, so a copy of
    the token (a log line, a shared URL) is refused without that session's cookie.
    ``secret`` is SECRET_KEY unless given (a test signing for a stack of its own)."""
    if not session_key:
        raise ValueError("a live-topics token needs the session it is rendered for")
    signed = {"k": list(keys), "s": session_binding(session_key, secret)}
    return signing.dumps(signed, key=secret, salt=SALT, compress=True)


def topics_read(token: str, versions: str, session_key: str | None) -> list[tuple[str, int]]:
    """(topic, version the page has) from a wait request's ``t`` and ``v`` and the request's
    session cookie; BadTopics if the token is not ours, has expired, was rendered for another
    session or does not match the versions."""
    try:
        signed = signing.loads(token, salt=SALT, max_age=TOKEN_MAX_AGE)
    except signing.SignatureExpired as error:
        raise BadTopics("This page's live updates have expired: reload the page.", 403) from error
    except signing.BadSignature as error:
        raise BadTopics("These live-update topics are not valid: reload the page.", 403) from error
    if not isinstance(signed, dict) or not isinstance(signed.get("s"), str):
        raise BadTopics("These live-update topics are not valid: reload the page.", 403)
    if not session_key or not constant_time_compare(signed["s"], session_binding(session_key)):
        raise BadTopics(
            "These live updates belong to another sign-in (or the session has ended): reload "
            "the page.",
            403,
        )
    keys = signed.get("k")
    try:
        numbers = [int(v) for v in versions.split(",")] if versions else []
    except ValueError as error:
        raise BadTopics("The versions must be whole numbers separated by commas.") from error
    if (
        not isinstance(keys, list)
        or not 0 < len(keys) <= MAX_TOPICS
        or len(numbers) != len(keys)
        or any(n < 0 for n in numbers)
    ):
        raise BadTopics("Give one version for each topic (v=1,0,...): reload the page.")
    return list(zip(keys, numbers, strict=True))

"""Throttles: counts of failures (or creations) per client address, account or code, in a window.

The counts live in Django's cache, which every web worker shares (Redis when configured, else a
database table): a per-process counter would allow its limit once per worker. A count starts with
its window (fixed, LEARNLAB_THROTTLE_WINDOW_SECONDS unless given) and is refused at its limit until
the window ends. Two racing requests may both pass at the limit: a few over, never unbounded.
Refusals are checked before any costly work (a password hash costs about a second of CPU).
"""

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone


@dataclass
class Throttled(Exception):
    """Refused until the window ends; ThrottledMiddleware answers a 429 page saying so."""

    message: str
    retry_after: int


def client_address(request) -> str:
    """The client every throttle counts: the web server's peer, or behind
    LEARNLAB_TRUSTED_PROXIES proxies the address the outermost of them saw, the N-th from the
    right of X-Forwarded-For (each proxy appends its peer; what is left of that, the client
    wrote itself). A header too short or not an address there falls back to the peer."""
    peer = request.META.get("REMOTE_ADDR", "")
    proxies = settings.LEARNLAB_TRUSTED_PROXIES
    if proxies <= 0:
        return peer
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    if len(hops) < proxies:
        return peer
    try:
        return str(ipaddress.ip_address(hops[-proxies].strip()))
    except ValueError:
        return peer


def _key(scope: str, subject: str) -> str:
    digest = hashlib.sha256(f"{scope}\0{subject}".encode()).hexdigest()[:40]
    return f"throttle:{scope}:{digest}"


def throttle_wait(scope: str, subject: str, *, limit: int) -> int:
    """Seconds until ``subject`` may try again in ``scope``: 0 below the limit, or with no
    limit (``limit`` 0 or less)."""
    if limit <= 0:
        return 0
    key = _key(scope, subject)
    found = cache.get_many([key, f"{key}:ends"])
    wait = found.get(f"{key}:ends", 0.0) - time.time()
    return math.ceil(wait) if found.get(key, 0) >= limit and wait > 0 else 0


def throttle_count(scope: str, subject: str, *, window: int | None = None) -> int:
    """One more in ``subject``'s window (a new window if none is running); the count so far.

    ``add`` then ``incr``: two threads or workers counting at once both count (atomic on
    Redis; the database cache's ``incr`` is a read and a write, so a race there can lose one
    of two simultaneous counts, never a window's worth)."""
    window = window or settings.LEARNLAB_THROTTLE_WINDOW_SECONDS
    key = _key(scope, subject)
    if cache.add(key, 0, window):
        cache.set(f"{key}:ends", time.time() + window, window)
    try:
        return cache.incr(key)
    except ValueError:  # the window ended between add and incr: start the next one
        cache.add(key, 0, window)
        cache.set(f"{key}:ends", time.time() + window, window)
        return cache.incr(key)


def throttle_clear(scope: str, subject: str) -> None:
    key = _key(scope, subject)
    cache.delete_many([key, f"{key}:ends"])


def refuse_if_window_full(recent, *, field: str, limit: int, window, message: str) -> None:
    """Raise ``Throttled`` when ``recent`` (rows created in the last ``window``, a timedelta)
    holds ``limit`` or more (0: no limit), with the wait until the oldest of them leaves the
    window. ``message`` names the wait as ``{wait}``."""
    if limit <= 0 or recent.count() < limit:
        return
    oldest = recent.order_by(field).values_list(field, flat=True).first()
    wait = max(1, int((oldest + window - timezone.now()).total_seconds()) + 1)
    raise Throttled(message.format(wait=minutes(wait)), retry_after=wait)


def minutes(seconds: int) -> str:
    """How long to wait, in words for a page."""
    count = max(1, math.ceil(seconds / 60))
    return f"{count} minute{'s' if count != 1 else ''}"

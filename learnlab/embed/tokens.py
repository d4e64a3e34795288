"""Embed launch tokens: how an embedded lab knows its learner without a cookie.

Browsers block third-party cookies in iframes, so an embedded page carries a signed, short-lived
token instead, bound to one learner and to the one host origin allowed to frame it (and to
receive its postMessage events). Every embed response mints a fresh one, so a learner who keeps
working keeps their sandbox; one left unused longer than LEARNLAB_EMBED_TOKEN_SECONDS is refused.
A token for an account's learner also carries a stamp of the account's password (from its
session auth hash, as a session does): a password change or a deactivation ends it, and every
fresh one traded for it, as it ends the account's sessions.
"""

import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

from learnlab.learners.models import Learner

SALT = "learnlab.embed.launch"
HEADER = "X-LearnLab-Embed"  # the embed page's requests carry the token here
PARAM = "t"  # ... and in the page's address, so a reload keeps the learner


class EmbedTokenError(ValueError):
    """A token that cannot be used; ``host`` is its host origin when the signature held (an
    expired token's host may still frame the page saying so), else None."""

    def __init__(self, message: str, host: str | None = None):
        super().__init__(message)
        self.message, self.host = message, host


@dataclass(frozen=True)
class EmbedLaunch:
    learner: Learner
    host: str  # the origin allowed to frame the page and receive its events
    source: str  # "embed" (a listed host) or "lti" (a platform's launch)


def origin_normalize(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case, or None when ``value`` is not an http(s) origin
    (a path, a query, user info or anything else makes it not one)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def listed_origins() -> set[str]:
    return {o for o in map(origin_normalize, settings.LEARNLAB_EMBED_ORIGINS) if o}


def _account_stamp(user) -> str:
    """A short digest of the account's session auth hash: it changes with the password."""
    return salted_hmac(SALT, user.get_session_auth_hash(), algorithm="sha256").hexdigest()[:20]


def embed_token_mint(*, learner: Learner, host: str, source: str = "embed") -> str:
    data = {"l": str(learner.pk), "h": host, "s": source}
    if learner.user_id:
        data["a"] = _account_stamp(learner.user)
    return signing.dumps(data, salt=SALT)


def embed_token_read(token: str) -> EmbedLaunch:
    """The launch a token carries; EmbedTokenError saying why when it is forged, expired,
    of a learner that no longer exists, or of a host no longer listed."""
    if not token or len(token) > 1000:
        raise EmbedTokenError("This embedded lab has no valid launch token.")
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.LEARNLAB_EMBED_TOKEN_SECONDS)
    except signing.SignatureExpired:
        host = None
        # The signature held: the host it names may show the page that says so.
        with contextlib.suppress(signing.BadSignature, AttributeError):
            host = signing.loads(token, salt=SALT).get("h")
        raise EmbedTokenError(
            "This embedded lab's launch has expired (it was unused for too long). Reload the "
            "page that shows it to start again.",
            host,
        ) from None
    except signing.BadSignature:
        raise EmbedTokenError(
            "This embedded lab's launch token is not one LearnLab issued. Reload the page that "
            "shows it."
        ) from None
    if not isinstance(data, dict) or not {"l", "h", "s"} <= set(data):
        raise EmbedTokenError("This embedded lab's launch token is incomplete.")
    host, source = data["h"], data["s"]
    if source == "embed" and host not in listed_origins():
        raise EmbedTokenError("This site is no longer allowed to embed LearnLab.")
    learner = Learner.objects.filter(pk=data["l"]).select_related("user").first()
    if learner is None:
        raise EmbedTokenError(
            "The learner this embedded lab was started for no longer exists. Reload the page "
            "that shows it to start again."
        )
    if learner.user_id and not (
        learner.user.is_active
        and isinstance(data.get("a"), str)
        and constant_time_compare(data["a"], _account_stamp(learner.user))
    ):
        raise EmbedTokenError(
            "This embedded lab was started for an account whose password has changed or that "
            "is no longer active. Sign in to LearnLab again, then reload the page that shows it."
        )
    return EmbedLaunch(learner=learner, host=host, source=source)

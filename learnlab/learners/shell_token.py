"""A learner's personal terminal token: ``/sandbox/env?token=...`` brings a shell of their own
(which carries no cookie) into their sandbox. Made on their sandbox page and shown there once;
only its SHA-256 is stored (a token is 32 random bytes, so no salt or slow hash is needed); a new
one revokes the old."""

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from learnlab.learners.models import Learner

PREFIX = "llsh_"
TOKEN_CHARACTERS = 80  # longer than any token made here: refused unread


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def shell_token_create(*, learner: Learner) -> str:
    """A new token for the learner (the old one stops working); the only time it is seen."""
    token = PREFIX + secrets.token_urlsafe(32)
    learner.shell_token_hash = _digest(token)
    learner.shell_token_created_at = timezone.now()
    learner.save(update_fields=["shell_token_hash", "shell_token_created_at"])
    return token


def shell_token_revoke(*, learner: Learner) -> None:
    learner.shell_token_hash = ""
    learner.shell_token_created_at = None
    learner.save(update_fields=["shell_token_hash", "shell_token_created_at"])


def learner_from_shell_token(token: str) -> Learner | None:
    """The learner whose current token this is, else None."""
    if not token.startswith(PREFIX) or len(token) > TOKEN_CHARACTERS:
        return None
    return Learner.objects.filter(shell_token_hash=_digest(token)).first()

import uuid

from django.conf import settings
from django.db import models


class Learner(models.Model):
    """A visitor: anonymous, known by the id kept in their session cookie, until they create an
    account, which then owns their progress and sandbox on every device."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="learner",
    )
    display_name = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The client address an anonymous learner was created from: new ones are limited per address.
    created_from = models.GenericIPAddressField(null=True, blank=True)
    # The SHA-256 of the learner's personal terminal token (``/sandbox/env?token=``), blank
    # when none; the token itself is shown once and never stored (``learners/shell_token.py``).
    shell_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    shell_token_created_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["created_from", "created_at"])]

    def __str__(self) -> str:
        return self.display_name or f"learner {str(self.id)[:8]}"

import uuid

from django.db import models


class Learner(models.Model):
    """A visitor: anonymous, known by the id kept in their session cookie."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    display_name = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.display_name or f"learner {str(self.id)[:8]}"

from django.db import models


class Change(models.Model):
    """The latest change of one topic (``creds:<account>``, ``class:<pk>``, ``member:<pk>``,
    ``board:<pk>``): live pages wait on their topics' versions (``live.services``)."""

    key = models.CharField(max_length=100, unique=True)
    version = models.PositiveBigIntegerField(default=0)
    changed_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key} v{self.version}"

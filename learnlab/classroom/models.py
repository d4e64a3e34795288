import secrets

from django.conf import settings
from django.db import models

from learnlab.learners.models import Learner

# Join codes are read off a projector: no 0/O, 1/I/L lookalikes.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


class Classroom(models.Model):
    """One instructor's live run of a lab for a class, joined with a short code."""

    instructor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="classrooms"
    )
    name = models.CharField(max_length=80)
    code = models.CharField(max_length=CODE_LENGTH, unique=True, default=new_code)
    lab = models.SlugField(max_length=64, default="instance-role")
    clock_speed = models.PositiveSmallIntegerField(default=60)
    rotation_paused = models.BooleanField(default=False)
    revealed_hints = models.JSONField(default=list)  # step slugs shown to the whole class
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class Membership(models.Model):
    """A learner in a class. A learner is in one open class at a time (the others are left)."""

    classroom = models.ForeignKey(Classroom, on_delete=models.CASCADE, related_name="members")
    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="memberships")
    display_name = models.CharField(max_length=60)
    joined_at = models.DateTimeField(auto_now_add=True)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["classroom", "learner"], name="one_membership")
        ]

    def __str__(self) -> str:
        return f"{self.display_name} in {self.classroom.code}"

import secrets

from django.conf import settings
from django.db import models

from learnlab.learners.models import Learner

# Join codes are read off a projector: no 0/O, 1/I/L lookalikes.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
ANNOUNCEMENT_MAX = 280


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


class Classroom(models.Model):
    """One instructor's live run of a lab for a class, joined with a short code."""

    instructor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="classrooms"
    )
    name = models.CharField(max_length=80)
    code = models.CharField(max_length=CODE_LENGTH, unique=True, default=new_code)
    lab = models.SlugField(max_length=64, default="instance-role")  # the main (first) lab
    # Every lab the class runs, by slug, the main lab first; empty (classes from before): [lab].
    labs = models.JSONField(default=list)
    clock_speed = models.PositiveSmallIntegerField(default=60)
    rotation_paused = models.BooleanField(default=False)
    revealed_hints = models.JSONField(default=list)  # step slugs shown to the whole class
    # Who set the class clock last, and when; when rotation was paused (None: running).
    clock_set_by = models.CharField(max_length=150, blank=True)
    clock_set_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    # A short note to the whole class, shown on learners' pages until they dismiss it.
    announcement = models.CharField(max_length=ANNOUNCEMENT_MAX, blank=True)
    announcement_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def lab_slugs(self) -> list[str]:
        """The labs the class runs, the main lab first."""
        chosen = [slug for slug in self.labs if slug != self.lab]
        return [self.lab, *chosen]


class Membership(models.Model):
    """A learner in a class. A learner is in one open class at a time (the others are left)."""

    classroom = models.ForeignKey(Classroom, on_delete=models.CASCADE, related_name="members")
    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="memberships")
    display_name = models.CharField(max_length=60)
    joined_at = models.DateTimeField(auto_now_add=True)
    left_at = models.DateTimeField(null=True, blank=True)
    # The learner pressed "I'm stuck" on this step (cleared when they take it back or pass).
    stuck_at = models.DateTimeField(null=True, blank=True)
    stuck_step = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["classroom", "learner"], name="one_membership")
        ]

    def __str__(self) -> str:
        return f"{self.display_name} in {self.classroom.code}"


class HintReveal(models.Model):
    """A step's hint the instructor opened to the whole class: who, and when."""

    classroom = models.ForeignKey(Classroom, on_delete=models.CASCADE, related_name="hints")
    step = models.SlugField(max_length=64)
    opened_by = models.CharField(max_length=150)
    opened_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["classroom", "step"], name="one_reveal")]

    def __str__(self) -> str:
        return f"hint of {self.step} opened by {self.opened_by}"


class LearnerReset(models.Model):
    """An instructor reset one learner's sandbox and lab progress. Kept for the history (the
    export's attempts before a reset) and, for ``UNDO_SECONDS``, what undoing it takes: the
    sandbox's replay log and the step results as they were (cleared once undone or expired)."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="resets")
    by = models.CharField(max_length=150)
    at = models.DateTimeField()
    # [{"step": slug, "attempts": n, "passed": bool}] before the reset: the history.
    history = models.JSONField(default=list)
    # Undo material: StepResult values and the replay log (bodies base64), emptied after use.
    results = models.JSONField(default=list)
    calls = models.JSONField(default=list)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"reset of {self.membership_id} by {self.by} at {self.at}"

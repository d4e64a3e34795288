from django.db import models

from learnlab.learners.models import Learner


class StepResult(models.Model):
    """The latest Check of one lab step by one learner: how a learner resumes where they were."""

    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="step_results")
    lab = models.SlugField(max_length=64)
    step = models.SlugField(max_length=64)
    passed = models.BooleanField(default=False)
    message = models.TextField()
    warning = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    checked_at = models.DateTimeField()
    passed_at = models.DateTimeField(null=True, blank=True)

    # Not stored: what showing a result needs besides its row, set by the code that reads it.
    # ``stale``: the sandbox changed (a recorded call, a reset or rebuild) after ``checked_at``;
    # ``blocked_by``: an earlier step that does not pass, so this one cannot count;
    # ``refreshed``: after a Check, the other steps' results it changed, as (step, result).
    stale = False
    blocked_by = None
    refreshed = ()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["learner", "lab", "step"], name="one_result_per_step")
        ]

    def __str__(self) -> str:
        return f"{self.lab}/{self.step}: {'passed' if self.passed else 'not yet'}"

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

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["learner", "lab", "step"], name="one_result_per_step")
        ]

    def __str__(self) -> str:
        return f"{self.lab}/{self.step}: {'passed' if self.passed else 'not yet'}"

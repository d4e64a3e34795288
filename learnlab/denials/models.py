"""The denials a learner met, each with its trace as it was at denial time (issue 19)."""

import secrets

from django.db import models

from learnlab.sandbox.models import Sandbox


def new_slug() -> str:
    return secrets.token_urlsafe(12)


class Denial(models.Model):
    """One AccessDenied / UnauthorizedOperation the gate returned, and why (``trace``: the
    principal, action, resource, request context, every policy's statements judged, the
    verdict). A sandbox keeps its latest ``KEEP``."""

    KEEP = 25

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="denials")
    # In links: not a counter a learner could walk through (and only the owner may see it).
    slug = models.CharField(max_length=22, unique=True, default=new_slug)
    created_at = models.DateTimeField(auto_now_add=True)
    code = models.CharField(max_length=40)
    action = models.CharField(max_length=128)
    resource = models.CharField(max_length=2048)
    principal_arn = models.CharField(max_length=2048)
    # LearnLab's own call (terminal, console form, check) or the learner's own tool.
    in_process = models.BooleanField(default=False)
    trace = models.JSONField()

    class Meta:
        indexes = [models.Index(fields=["sandbox", "-created_at"], name="denial_recent")]

    def __str__(self):
        return f"{self.code} {self.action} ({self.slug})"

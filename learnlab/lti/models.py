from django.conf import settings
from django.db import models

from learnlab.classroom.models import Classroom
from learnlab.learners.models import Learner


class LtiCourse(models.Model):
    """A platform's course (an LTI context) and the LearnLab class its launches create or join."""

    context = models.OneToOneField(
        "lti_tool.LtiContext", on_delete=models.CASCADE, related_name="learnlab_course"
    )
    classroom = models.ForeignKey(Classroom, on_delete=models.CASCADE, related_name="lti_courses")
    roster_synced_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.context} -> {self.classroom}"


class LtiAccount(models.Model):
    """A platform's user (an LTI ``sub``) and the LearnLab account made for them: no sign-up,
    no password (``set_unusable_password``); they arrive through their platform only."""

    lti_user = models.OneToOneField(
        "lti_tool.LtiUser", on_delete=models.CASCADE, related_name="learnlab_account"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lti_account"
    )

    def __str__(self) -> str:
        return f"{self.lti_user} -> {self.user}"


class LtiGrade(models.Model):
    """Where a learner's score for one lab goes: the line item of the resource link they
    launched (AGS). Each Check queues a post of the learner's current score."""

    learner = models.ForeignKey(Learner, on_delete=models.CASCADE, related_name="lti_grades")
    account = models.ForeignKey(LtiAccount, on_delete=models.CASCADE, related_name="grades")
    lab = models.SlugField(max_length=64)
    resource_link_id = models.CharField(max_length=255)
    lineitem_url = models.URLField(max_length=1000, blank=True)
    lineitems_url = models.URLField(max_length=1000, blank=True)
    scopes = models.JSONField(default=list)
    last_posted_at = models.DateTimeField(null=True, blank=True)
    last_score = models.CharField(max_length=40, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "resource_link_id"], name="one_grade_per_link"
            )
        ]

    def __str__(self) -> str:
        return f"{self.learner} {self.lab}: {self.last_score or 'not posted'}"


class UsedNonce(models.Model):
    """A launch's nonce, once used: a second launch with it is a replay and is refused
    (pylti1p3 checks a nonce was issued, not that it is used once)."""

    issuer = models.CharField(max_length=255)
    nonce = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "nonce"], name="nonce_used_once")]

    def __str__(self) -> str:
        return f"{self.issuer} {self.nonce}"

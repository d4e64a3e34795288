import secrets

from django.db import models

from learnlab.sandbox.models import AccessKey, Sandbox


def _new_token() -> str:
    return secrets.token_urlsafe(24)


class MetadataEndpoint(models.Model):
    """The unguessable URL at which one lab instance's metadata service answers over HTTP."""

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="endpoints")
    instance_id = models.CharField(max_length=32)
    token = models.CharField(max_length=64, unique=True, default=_new_token)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sandbox", "instance_id"], name="one_endpoint")
        ]

    def __str__(self) -> str:
        return f"{self.instance_id} in {self.sandbox}"


class InstanceCredentials(models.Model):
    """One set of role credentials issued to an instance, as EC2 and STS issue them.

    The ticker renews a set when ``renew_at`` passes (compare-and-set on ``superseded_at``), the
    superseded set stays valid until ``expires_at``, and at expiry it is forgotten by the
    sandbox server (the gate then answers ExpiredToken from ``access_key.expires_at``).
    """

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="credentials")
    instance_id = models.CharField(max_length=32)
    role_name = models.CharField(max_length=64)
    access_key = models.OneToOneField(AccessKey, on_delete=models.CASCADE)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    renew_at = models.DateTimeField(db_index=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    forgotten_at = models.DateTimeField(null=True, blank=True)
    # The learner's own acts, which the lab's checks look for: the first time the instance's
    # metadata service handed this set out (curl, an SDK, the in-page terminal), and the first
    # time the credentials page showed it.
    fetched_at = models.DateTimeField(null=True, blank=True)
    shown_at = models.DateTimeField(null=True, blank=True)
    # While an instructor's pause holds the set: up to when its expiry and renewal were moved on
    # by the time paused (``credentials.credentials_hold``), so its time left stays as it was.
    held_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["sandbox", "instance_id", "-issued_at"])]

    def __str__(self) -> str:
        return f"credentials of {self.role_name} on {self.instance_id}"


class MetadataRequest(models.Model):
    """One request an instance's metadata service answered, as it saw it: what the labs' checks
    read (a token presented or not, through how many hops, what it answered), never terminal
    text. Only the last ``KEPT`` per instance are kept."""

    KEPT = 50

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="imds_requests")
    instance_id = models.CharField(max_length=32)
    at = models.DateTimeField(auto_now_add=True)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=300)
    token = models.BooleanField()  # an IMDSv2 session token header came with it
    hops = models.PositiveSmallIntegerField(default=1)  # network hops simulated on the way
    via = models.CharField(max_length=20, blank=True)  # "preview", "container", "" (direct)
    status = models.PositiveSmallIntegerField()

    class Meta:
        indexes = [models.Index(fields=["sandbox", "instance_id", "-id"])]

    def __str__(self) -> str:
        return f"{self.method} {self.path} on {self.instance_id}: {self.status}"

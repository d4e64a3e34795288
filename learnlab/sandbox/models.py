from datetime import datetime

from django.db import models

from learnlab.learners.models import Learner
from learnlab.lib import clock
from learnlab.sandbox.calls import RecordedCall


class Sandbox(models.Model):
    """A learner's own simulated AWS account: one moto account on the sandbox server."""

    class Status(models.TextChoices):
        READY = "ready"
        DROPPED = "dropped"  # reaped: rebuilt from this record on next use
        LOST = "lost"  # its sandbox server restarted: the clock rebuilds it at once

    learner = models.OneToOneField(Learner, on_delete=models.CASCADE, related_name="sandbox")
    account_id = models.CharField(max_length=12, unique=True)
    region = models.CharField(max_length=20, default="us-east-1")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.READY)
    created_at = models.DateTimeField(auto_now_add=True)
    built_at = models.DateTimeField()
    last_used_at = models.DateTimeField(db_index=True)
    # The learner's (or their class's) lab clock; None: LEARNLAB_CLOCK_SPEED.
    clock_speed = models.PositiveSmallIntegerField(null=True, blank=True)
    rotation_paused = models.BooleanField(default=False)  # an instructor's demo pause
    # The name of the sandbox server holding it (connection.servers(): stable whatever the
    # list's order; ``0``, ``1``... with the LEARNLAB_SANDBOX_SERVERS shorthand).
    server = models.CharField(max_length=64, default="0")
    # Moved off this server by a drain, its copy there not dropped yet (drain.py).
    moved_from = models.CharField(max_length=64, blank=True, default="")
    # The replay log's size (SandboxCall rows and their bytes), capped so a rebuild stays short.
    log_calls = models.PositiveIntegerField(default=0)
    log_bytes = models.BigIntegerField(default=0)
    # A rebuild that failed is not tried again before ``rebuild_after`` (exponential backoff).
    rebuild_failures = models.PositiveSmallIntegerField(default=0)
    rebuild_after = models.DateTimeField(null=True, blank=True)

    # True on the row sandbox_provision returns, for the rest of that request: the account holds
    # its lab user and nothing else (no one has seen its keys yet), so its first view of the
    # lab needs no list read (labs.checks.SandboxView).
    just_provisioned = False

    def __str__(self) -> str:
        return f"sandbox {self.account_id}"

    @property
    def lab_user_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:user/{LAB_USER_NAME}"

    @property
    def lab_clock_speed(self) -> int:
        return self.clock_speed or clock.speed()

    def lab_key(self) -> "AccessKey":
        return self.access_keys.get(kind=AccessKey.Kind.LAB_USER)


LAB_USER_NAME = "learnlab"


class AccessKey(models.Model):
    """Credentials that the AWS gate accepts, each belonging to exactly one sandbox.

    The gate must verify SigV4 signatures, so like AWS it keeps the secret itself.
    """

    class Kind(models.TextChoices):
        LAB_USER = "lab-user"  # the learner's own long-term keys: full rights in the sandbox
        ROLE_SESSION = "role-session"  # temporary credentials of an assumed role
        # Long-term keys the learner made for one of their own IAM users (CreateAccessKey),
        # gone at DeleteAccessKey or UpdateAccessKey Inactive (gate/user_keys.py).
        IAM_USER = "iam-user"

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="access_keys")
    access_key_id = models.CharField(max_length=128, unique=True)
    secret_access_key = models.CharField(max_length=128)
    session_token = models.TextField(blank=True)
    principal_arn = models.CharField(max_length=300)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Role sessions only, at most a write a minute: proof a lab step's credentials were used.
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.access_key_id

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class SandboxCall(models.Model):
    """A successful AWS call that changed the sandbox, as the gate forwarded it: a stored
    ``RecordedCall``.

    Replayed in order, with the seed moto drew its random ids from, they rebuild the sandbox
    with the same roles, profiles and instance ids after its server restarted or it was reaped.
    """

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="calls")
    made_at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=100)  # for people reading the log
    method = models.CharField(max_length=10)
    path = models.TextField()  # the sandbox server's path and query
    headers = models.JSONField()  # those moto reads: content type, x-amz-target, x-amz-*
    body = models.BinaryField()
    scope = models.CharField(max_length=100)  # the signature's region/service: moto routes by it
    seed = models.BigIntegerField()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.action} in {self.sandbox_id}"

    def recorded(self) -> RecordedCall:
        return RecordedCall(
            method=self.method,
            path=self.path,
            headers=self.headers,
            body=bytes(self.body),
            scope=self.scope,
            seed=self.seed,
            action=self.action,
        )


class ServerBoot(models.Model):
    """The boot id each sandbox server last answered with: a new one means it restarted and
    lost every account it held."""

    server = models.CharField(max_length=64, primary_key=True)  # the server's name
    boot_id = models.CharField(max_length=32)
    seen_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"sandbox server {self.server}: {self.boot_id}"


class SandboxServer(models.Model):
    """What LearnLab keeps about a sandbox server beyond the list in the settings: whether it
    is draining (``manage.py sandbox_drain``: no new sandboxes, its own moved elsewhere)."""

    name = models.CharField(max_length=64, primary_key=True)
    draining_since = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        state = "draining" if self.draining_since else "open"
        return f"sandbox server {self.name} ({state})"

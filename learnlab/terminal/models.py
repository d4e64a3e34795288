from django.db import models

from learnlab.sandbox.models import Sandbox


class Shell(models.Model):
    """A learner's in-page terminal between commands: where it runs, its variables, its recent
    scrollback. One per sandbox: it moves with the sandbox when anonymous progress is merged into
    an account, and goes with it."""

    sandbox = models.OneToOneField(Sandbox, on_delete=models.CASCADE, related_name="shell")
    instance_id = models.CharField(max_length=32, blank=True)  # blank: the workstation
    host_name = models.CharField(max_length=64, blank=True)  # ip-172-31-…, for the prompt
    # Per host kind ("workstation", "instance"): variables that differ from the host's own
    # (null: unset) and the exported names. The lab keys themselves are never stored here.
    environments = models.JSONField(default=dict)
    last_status = models.PositiveSmallIntegerField(default=0)
    scrollback = models.JSONField(default=list)  # recent entries: prompt, command, output
    # A command line waiting for the rest of its here-document (the prompt shows "> ").
    pending = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"shell of {self.sandbox}"


class HomeFile(models.Model):
    """A file in one host's virtual home directory (``terminal/home.py``): the workstation's
    (``host`` "workstation") or an instance's (its id). Text only; quotas in ``home.py``."""

    shell = models.ForeignKey(Shell, on_delete=models.CASCADE, related_name="files")
    host = models.CharField(max_length=32)
    name = models.CharField(max_length=100)
    content = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shell", "host", "name"], name="home_file_unique")
        ]

    def __str__(self) -> str:
        return f"{self.host}:~/{self.name}"

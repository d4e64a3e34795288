"""Writes of the instance metadata service: its per-instance URLs, and taking back what whoever
knew them could read."""

import re
import shlex

from django.db import transaction
from django.utils import timezone

from learnlab.imds.credentials import credentials_forget_expired
from learnlab.imds.models import InstanceCredentials, MetadataEndpoint
from learnlab.sandbox import connection
from learnlab.sandbox.models import AccessKey, Sandbox

# Used with fullmatch: "$" with match would let a final newline through.
INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")


class InstanceNotFound(Exception):
    pass


def instance_facts(*, sandbox: Sandbox, instance_id: str) -> dict:
    """The sandbox server's facts about one instance (state, profile, role, metadata options);
    raises InstanceNotFound."""
    if not INSTANCE_ID.fullmatch(instance_id):
        # ASCII only (!a, no ellipsis): /sandbox/env prints this as a line a shell user pastes
        raise InstanceNotFound(
            f"{instance_id!a} is not an instance id (they look like i-0abc1234def567890)."
        )
    try:
        return connection.instance_get(sandbox.account_id, instance_id)
    except connection.SandboxServerError as error:
        if error.status == 404:
            raise InstanceNotFound(
                f"There is no instance {instance_id} in your sandbox."
            ) from error
        raise


def endpoint_for(*, sandbox: Sandbox, instance_id: str) -> MetadataEndpoint:
    """The instance's metadata service URL token, created on first use."""
    if INSTANCE_ID.fullmatch(instance_id):
        existing = MetadataEndpoint.objects.filter(sandbox=sandbox, instance_id=instance_id)
        if (found := existing.first()) is not None:
            return found  # the live panel asks every second: no sandbox server call needed
    instance_facts(sandbox=sandbox, instance_id=instance_id)
    endpoint, _ = MetadataEndpoint.objects.get_or_create(sandbox=sandbox, instance_id=instance_id)
    return endpoint


def instance_access_revoke(*, sandbox: Sandbox) -> None:
    """Whoever knew this sandbox's metadata URLs, or read role credentials from them, loses
    both: each instance's next look gets a new URL (``endpoint_for``), the live sets expire now
    (the gate answers ExpiredToken) and are forgotten by the sandbox server, and the metadata
    service issues fresh ones on the next read. For a sandbox that changes hands (sign-up)."""
    now = timezone.now()
    with transaction.atomic():
        MetadataEndpoint.objects.filter(sandbox=sandbox).delete()
        live = InstanceCredentials.objects.filter(sandbox=sandbox, expires_at__gt=now)
        AccessKey.objects.filter(pk__in=live.values("access_key_id")).update(expires_at=now)
        live.update(expires_at=now)
    credentials_forget_expired(now=now)


# What would make a shell's CLI or SDK find other credentials before the metadata service
# (botocore's chain: environment, web identity, SSO and shared files, containers, then IMDS) or
# send requests elsewhere: unset first, so the instance lines work in any shell.
INSTANCE_UNSET = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_ENDPOINT_URL_IAM",
    "AWS_ENDPOINT_URL_EC2",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_S3",
)


def instance_env_lines(
    *, sandbox: Sandbox, instance_id: str, gate_url: str, imds_base: str
) -> list[str]:
    """A shell "on" the instance: the SDKs and CLI find the role's credentials by themselves.

    Other credentials are unset first (see INSTANCE_UNSET), and the shared config and
    credentials files are pointed at /dev/null: a ``[default]`` profile in the learner's own
    ~/.aws would otherwise come before the metadata service, as it would not on an instance,
    which has no ~/.aws. The endpoint has no trailing slash, as AWS documents
    AWS_EC2_METADATA_SERVICE_ENDPOINT (``http://169.254.169.254``)."""
    endpoint = endpoint_for(sandbox=sandbox, instance_id=instance_id)
    values = {
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"{imds_base.rstrip('/')}/{endpoint.token}",
        "AWS_ENDPOINT_URL": gate_url,
        "AWS_DEFAULT_REGION": sandbox.region,
        "AWS_REGION": sandbox.region,
    }
    return [
        "unset " + " ".join(INSTANCE_UNSET),
        *(f"export {name}={shlex.quote(value)}" for name, value in values.items()),
    ]

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

INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")


class InstanceNotFound(Exception):
    pass


def instance_facts(*, sandbox: Sandbox, instance_id: str) -> dict:
    """The sandbox server's facts about one instance (state, profile, role, metadata options);
    raises InstanceNotFound."""
    if not INSTANCE_ID.match(instance_id):
        raise InstanceNotFound(f"{instance_id!r} is not an instance id (they look like i-0abc…).")
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
    if INSTANCE_ID.match(instance_id):
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


def instance_env_lines(
    *, sandbox: Sandbox, instance_id: str, gate_url: str, imds_base: str
) -> list[str]:
    """A shell "on" the instance: the SDKs and CLI find the role's credentials by themselves."""
    endpoint = endpoint_for(sandbox=sandbox, instance_id=instance_id)
    values = {
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"{imds_base}{endpoint.token}/",
        "AWS_ENDPOINT_URL": gate_url,
        "AWS_DEFAULT_REGION": sandbox.region,
    }
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]

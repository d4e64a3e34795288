"""What an instance's metadata service knows about it, read from moto's EC2 and IAM backends.

The sandbox server answers ``GET /_admin/accounts/<acct>/instances/<id>`` with
``instance_facts``, and the credential clock's ``attached-instances`` with ``profile_state``.
"""

from moto.ec2.models import ec2_backends
from moto.iam.models import iam_backends

from learnlab.lib.iam_policy import EC2_SERVICE, trust_allows

PARTITION = "aws"


def profile_state(account_id: str, association) -> dict:
    """What the metadata service's ``iam/`` tree needs to know about an instance's profile."""
    profile = association.iam_instance_profile
    iam = iam_backends[account_id][PARTITION]
    # Deleted, or deleted and recreated under the same name, is "not found" for the instance.
    current = next((p for p in iam.instance_profiles.values() if p.id == profile.id), None)
    state = {"arn": profile.arn, "id": profile.id, "exists": current is not None, "role": None}
    if current is not None and current.roles:
        role = current.roles[0]
        state["role"] = {
            "name": role.name,
            "arn": role.arn,
            "trusts_ec2": trust_allows(role.assume_role_policy_document, service=EC2_SERVICE),
        }
    return state


def instance_facts(account_id: str, region: str, instance) -> dict:
    ec2 = ec2_backends[account_id][region]
    association = ec2.iam_instance_profile_associations.get(instance.id)
    nic = next(iter(instance.nics.values()), None) if getattr(instance, "nics", None) else None
    return {
        "instance_id": instance.id,
        "state": instance.state,
        "image_id": instance.image_id,
        "instance_type": instance.instance_type,
        "private_ip": instance.private_ip,
        "private_dns": instance.private_dns_name,
        "availability_zone": instance.availability_zone,
        "region": region,
        "mac": getattr(nic, "mac_address", None) or "0e:00:00:00:00:01",
        "architecture": instance.architecture,
        "launch_time": instance.launch_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "user_data": instance.user_data.decode() if instance.user_data else None,
        "http_tokens": instance.metadata_options.http_tokens,
        "http_endpoint": instance.metadata_options.http_endpoint,
        "profile": profile_state(account_id, association) if association else None,
    }

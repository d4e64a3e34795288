"""What an instance's metadata service knows about it, read from moto's EC2 and IAM backends.

The sandbox server answers ``GET /_admin/accounts/<acct>/instances/<id>`` with
``instance_facts``, and the credential clock's ``attached-instances`` with ``profile_state``.
Every value is the one EC2's ``DescribeInstances`` reports for the same instance, so what a
learner reads from the metadata service agrees with what the CLI shows.
"""

import re

from moto.ec2.models import ec2_backends
from moto.iam.models import iam_backends

from learnlab.lib.iam_policy import EC2_SERVICE, trust_allows

PARTITION = "aws"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Tag keys the metadata service can serve: AWS refuses to allow instance metadata tags while a
# key has a space or a slash, or is "." or "..", since each key is a path segment.
SERVABLE_TAG_KEY = re.compile(r"^(?!\.{1,2}$)[^/ ]+$")


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


def _reservation_id(ec2, instance) -> str | None:
    return next(
        (rid for rid, res in list(ec2.reservations.items()) if instance in res.instances), None
    )


def _zone_id(ec2, zone: str | None) -> str | None:
    return next((z.zone_id for z in ec2.describe_availability_zones() if z.name == zone), None)


def _groups(nic) -> list[dict]:
    # The order EC2 lists them in: by id, as moto's describe-instances sorts a set.
    groups = sorted(nic.group_set, key=lambda group: group.id) if nic is not None else []
    return [{"id": group.id, "name": group.name} for group in groups]


def _interface(ec2, instance, nic) -> dict:
    subnet = nic.subnet
    vpc = ec2.get_vpc(subnet.vpc_id) if subnet is not None else None
    private_ips = [a["PrivateIpAddress"] for a in nic.instance_private_ip_address_list]
    primary = nic.device_index == 0
    public_ip = nic.public_ip
    if public_ip and primary:
        public_dns = instance.public_dns_name
    elif public_ip:
        public_dns = "ec2-" + public_ip.replace(".", "-") + ".compute-1.amazonaws.com"
    else:
        public_dns = None
    return {
        "interface_id": nic.id,
        "device_number": nic.device_index,
        "mac": nic.mac_address,
        "owner_id": nic.owner_id,
        "private_ips": private_ips or [nic.private_ip_address],
        "local_hostname": "ip-" + nic.private_ip_address.replace(".", "-") + ".ec2.internal"
        if instance.region_name == "us-east-1"
        else f"ip-{nic.private_ip_address.replace('.', '-')}.{instance.region_name}"
        ".compute.internal",
        "public_ip": public_ip,
        "public_dns": public_dns,
        "security_groups": _groups(nic),
        "subnet_id": subnet.id if subnet is not None else None,
        "subnet_cidr": subnet.cidr_block if subnet is not None else None,
        "vpc_id": vpc.id if vpc is not None else None,
        "vpc_cidr": vpc.cidr_block if vpc is not None else None,
        "vpc_cidrs": [a["cidr_block"] for a in vpc.cidr_block_association_set] if vpc else [],
    }


def _public_key(ec2, key_name: str | None) -> dict | None:
    key_pair = ec2.key_pairs.get(key_name) if key_name else None
    if key_pair is None:
        return None
    material = key_pair.material_public
    if isinstance(material, bytes):
        material = material.decode()
    return {"name": key_name, "openssh_key": material.strip() + f" {key_name}"}


def _tags(instance) -> dict:
    tags = {tag["key"]: tag["value"] for tag in instance.get_tags()}
    return {key: value for key, value in sorted(tags.items()) if SERVABLE_TAG_KEY.fullmatch(key)}


def instance_facts(account_id: str, region: str, instance) -> dict:
    """The instance as its metadata service shows it: ids, addresses, interfaces, placement,
    groups, key, tags, user data (base64, as EC2 keeps it), metadata options and profile."""
    ec2 = ec2_backends[account_id][region]
    association = ec2.iam_instance_profile_associations.get(instance.id)
    nics = sorted(getattr(instance, "nics", {}).values(), key=lambda nic: nic.device_index)
    interfaces = [_interface(ec2, instance, nic) for nic in nics]
    primary = interfaces[0] if interfaces else None
    options = instance.metadata_options
    return {
        "instance_id": instance.id,
        "state": instance.state,
        "image_id": instance.image_id,
        "instance_type": instance.instance_type,
        "ami_launch_index": instance.ami_launch_index,
        "reservation_id": _reservation_id(ec2, instance),
        "private_ip": instance.private_ip,
        "private_dns": instance.private_dns_name,
        "public_ip": instance.public_ip,
        "public_dns": instance.public_dns_name,
        "availability_zone": instance.availability_zone,
        "availability_zone_id": _zone_id(ec2, instance.availability_zone),
        "region": region,
        "mac": primary["mac"] if primary else "0e:00:00:00:00:01",
        "interfaces": interfaces,
        "security_groups": primary["security_groups"] if primary else [],
        "architecture": instance.architecture,
        "root_device_name": instance.root_device_name,
        "lifecycle": "spot" if instance.lifecycle == "spot" else "on-demand",
        "launch_time": instance.launch_time.strftime(TIME_FORMAT),
        "public_key": _public_key(ec2, instance.key_name),
        "tags": _tags(instance),
        "user_data_base64": instance.user_data.as_bytes().decode("ascii")
        if instance.user_data
        else None,
        "monitoring": "enabled" if instance.monitored else "disabled",
        "http_tokens": options.http_tokens,
        "http_endpoint": options.http_endpoint,
        "instance_metadata_tags": options.instance_metadata_tags,
        "profile": profile_state(account_id, association) if association else None,
    }

"""The instance metadata service of one lab instance, with AWS's paths, formats and status codes
(reference/imds.md). One request in, one response out, for the view and the terminal alike; to
answer, it reads the instance and its profile from the sandbox server and the role's current
credentials from the database, issuing the first set on demand (``credentials_fetch``).

The tree is the one AWS's "Instance metadata categories" page lists for such an instance, each
category present exactly when AWS says (``iam/`` with a profile, ``public-*`` with a public
address, ``public-keys/`` with a key pair, ``tags/`` once instance metadata tags are allowed),
every value the one ``describe-instances`` reports (``sandbox/instances.py``). The identity
document's signatures and the reserved identity credentials are ``metadata_identity.py``'s."""

import base64
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import DatabaseError
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from learnlab.gate.client import aws_client
from learnlab.imds import metadata_identity as identity
from learnlab.imds.credentials import InstanceLimitReached, credentials_fetch
from learnlab.imds.models import MetadataEndpoint, MetadataRequest
from learnlab.sandbox import connection

log = logging.getLogger(__name__)
# Paths and header names, not secrets.
TOKEN_PATH = "/latest/api/token"  # noqa: S105
TOKEN_TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"  # noqa: S105
TOKEN_HEADER = "x-aws-ec2-metadata-token"  # noqa: S105
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ERROR_TITLES = {
    400: "400 - Missing or Invalid Parameters",
    401: "401 - Unauthorized",
    403: "403 - Forbidden",
    404: "404 - Not Found",
    405: "405 - Method Not Allowed",
}


@dataclass
class MetadataResponse:
    status: int
    body: str = ""
    headers: dict = field(default_factory=dict)
    content_type: str = "text/plain"
    # The exact bytes when ``body`` (text, for the terminal) cannot hold them: raw user data.
    raw: bytes | None = None


def _error(status: int) -> MetadataResponse:
    title = ERROR_TITLES[status]
    body = (
        '<?xml version="1.0" encoding="iso-8859-1"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
        '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
        f" <head>\n  <title>{title}</title>\n </head>\n"
        f" <body>\n  <h1>{title}</h1>\n </body>\n</html>\n"
    )
    return MetadataResponse(status, body, content_type="text/html")


def _document(values: dict) -> str:
    """AWS's JSON documents: two-space indent and ' : ' separators."""
    return json.dumps(values, indent=2, separators=(",", " : "))


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


# An IMDSv2 token is opaque, as AWS's are: its expiry and an HMAC (keyed by SECRET_KEY) over the
# instance's endpoint and that expiry, base64. It names nothing: the endpoint's URL token, the
# secret that reaches the instance's credentials, is only inside the HMAC.
_TOKEN_SALT = "learnlab.imds.token"  # noqa: S105 (a salt, not a secret)
_EXPIRY_BYTES = 8


def _token_mac(endpoint: MetadataEndpoint, expires: int) -> bytes:
    return salted_hmac(_TOKEN_SALT, f"{endpoint.token}:{expires}", algorithm="sha256").digest()


def token_issue(endpoint: MetadataEndpoint, ttl: int) -> str:
    expires = int(timezone.now().timestamp()) + ttl
    raw = expires.to_bytes(_EXPIRY_BYTES, "big") + _token_mac(endpoint, expires)
    return base64.urlsafe_b64encode(raw).decode()


def token_valid(endpoint: MetadataEndpoint, token: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False
    expires = int.from_bytes(raw[:_EXPIRY_BYTES], "big")
    return constant_time_compare(raw[_EXPIRY_BYTES:], _token_mac(endpoint, expires)) and (
        expires > timezone.now().timestamp()
    )


def respond(
    endpoint: MetadataEndpoint,
    *,
    method: str,
    path: str,
    headers: dict,
    hops: int = 1,
    via: str = "",
) -> MetadataResponse:
    """Answer one request to the instance's metadata service. ``headers`` are lower-case.
    ``hops``: the network hops the request took (1 from the instance itself, 2 from a container
    on it: ``hop_limit_of``); ``via`` names the lab app that sent it. Each request is recorded
    (``MetadataRequest``) for the labs' checks."""
    answer = _respond(endpoint, method=method, path=path, headers=headers, hops=hops)
    request_record(
        endpoint, method=method, path=path, headers=headers, hops=hops, via=via, answer=answer
    )
    return answer


def request_record(endpoint, *, method, path, headers, hops, via, answer) -> None:
    """Keep the request (the last ``MetadataRequest.KEPT`` per instance); a busy database
    never fails the answer."""
    try:
        MetadataRequest.objects.create(
            sandbox_id=endpoint.sandbox_id,
            instance_id=endpoint.instance_id,
            method=method[:10],
            path=path[:300],
            token=TOKEN_HEADER in headers,
            hops=max(1, min(hops, 255)),
            via=via[:20],
            status=answer.status,
        )
        mine = MetadataRequest.objects.filter(
            sandbox_id=endpoint.sandbox_id, instance_id=endpoint.instance_id
        )
        oldest_kept = mine.order_by("-id").values_list("id", flat=True)[
            MetadataRequest.KEPT - 1 : MetadataRequest.KEPT
        ]
        if cutoff := list(oldest_kept):
            mine.filter(id__lt=cutoff[0]).delete()
    except DatabaseError:
        log.warning("metadata request not recorded", exc_info=True)


# The answer a PUT gets when its reply runs out of hops (HttpPutResponseHopLimit): none at all,
# the caller times out. ``status`` 0: nothing arrived.
NO_ANSWER = 0


def _respond(
    endpoint: MetadataEndpoint, *, method: str, path: str, headers: dict, hops: int
) -> MetadataResponse:
    try:
        instance = connection.instance_get(endpoint.sandbox.account_id, endpoint.instance_id)
    except connection.SandboxServerError:
        instance = None
    if instance is None or instance["state"] != "running":
        # Nothing runs on a stopped or terminated instance: nothing answers.
        return MetadataResponse(
            503, f"{endpoint.instance_id} is not running: no metadata service answers.\n"
        )
    if instance["http_endpoint"] == "disabled":
        return _error(403)
    if path == TOKEN_PATH:
        answer = _token(endpoint, method, headers)
        if answer.status == 200 and hops > hop_limit_of(endpoint, instance):
            # The token's reply leaves with its IP TTL set to the hop limit: a reply that must
            # cross more hops (a container's bridge) is dropped on the way.
            return MetadataResponse(
                NO_ANSWER,
                f"No answer: the token's reply was dropped after "
                f"{hop_limit_of(endpoint, instance)} hop(s) (HttpPutResponseHopLimit), "
                f"{hops} needed. The caller times out.\n",
            )
        return answer
    if method == "PUT" and path.endswith("/api/token"):
        return _error(403)  # only /latest/api/token issues tokens
    if method not in ("GET", "HEAD"):
        return _error(405)
    token = headers.get(TOKEN_HEADER)
    if token is not None and not token_valid(endpoint, token):
        return _error(401)
    if token is None and instance["http_tokens"] == "required":
        return _error(401)
    return _tree(endpoint, instance, path)


def hop_limit_of(endpoint: MetadataEndpoint, instance: dict) -> int:
    """The instance's HttpPutResponseHopLimit (1 unless changed): from its facts when the
    sandbox server reports it, else as DescribeInstances shows it to the lab user."""
    if "http_put_response_hop_limit" in instance:
        return int(instance["http_put_response_hop_limit"])
    try:
        found = aws_client("ec2", sandbox=endpoint.sandbox).describe_instances(
            InstanceIds=[endpoint.instance_id]
        )
        options = found["Reservations"][0]["Instances"][0].get("MetadataOptions", {})
        return int(options.get("HttpPutResponseHopLimit", 1))
    except Exception:  # unreadable: AWS's default
        log.warning("hop limit of %s not read", endpoint.instance_id, exc_info=True)
        return 1


def _token(endpoint, method: str, headers: dict) -> MetadataResponse:
    if method != "PUT":
        return _error(405)
    if "x-forwarded-for" in headers:
        return _error(403)  # a proxy relayed it: the SSRF defence of IMDSv2
    # A whole number of seconds in plain ASCII digits: int() would also read "1_000", " 60"
    # or "٦٠" (Arabic-Indic digits), which AWS's service refuses.
    # Past 5 significant digits it is over 21600 anyway (and int() refuses 4300 digits).
    value = headers.get(TOKEN_TTL_HEADER, "")
    if not re.fullmatch(r"[0-9]+", value) or len(value.lstrip("0")) > 5:
        return _error(400)
    ttl = int(value)
    if not 1 <= ttl <= 21600:
        return _error(400)
    return MetadataResponse(
        200, token_issue(endpoint, ttl), headers={"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)}
    )


# The versions AWS's metadata service lists at "/": each serves the tree "latest" serves here.
VERSIONS = (
    "1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01",
    "2008-09-01", "2009-04-04", "2011-01-01", "2011-05-01", "2012-01-12", "2014-02-25",
    "2014-11-05", "2015-10-20", "2016-04-19", "2016-06-30", "2016-09-02", "2018-03-28",
    "2018-08-17", "2018-09-24", "2019-10-01", "2020-10-27", "2021-01-03", "2021-03-23",
    "2021-07-15", "2022-09-24", "2024-04-11", "latest",
)  # fmt: skip
# Instance families on the Xen hypervisor; every newer family is built on the Nitro System.
XEN_FAMILIES = frozenset(
    ["c1", "c3", "c4", "d2", "g2", "g3", "h1", "i2", "i3", "m1", "m2", "m3", "m4", "p2", "p3",
     "r3", "r4", "t1", "t2", "x1", "x1e"]
)  # fmt: skip
# "metrics/vhostmd" is "no longer available" (AWS's categories page): an empty XML document.
VHOSTMD = '<?xml version="1.0" encoding="UTF-8"?>'


@dataclass
class _Dir:
    """A directory of the tree: its entries in AWS's order, listed one per line, sub-directories
    with a trailing slash, unless ``listing`` says otherwise (``public-keys/``: ``0=name``)."""

    entries: dict
    listing: str | None = None

    def render(self) -> str:
        if self.listing is not None:
            return self.listing
        return "\n".join(
            name + "/" if isinstance(node, _Dir) else name for name, node in self.entries.items()
        )


def _hostname(ip: str, region: str) -> str:
    dashed = ip.replace(".", "-")
    return (
        f"ip-{dashed}.ec2.internal"
        if region == "us-east-1"
        else (f"ip-{dashed}.{region}.compute.internal")
    )


def _interface_dir(interface: dict) -> _Dir:
    """``network/interfaces/macs/<mac>/``: the entries AWS's categories page lists for one
    network interface, in its alphabetical order; the public ones only with a public address."""
    public_ip = interface["public_ip"]
    entries = {
        "device-number": str(interface["device_number"]),
        "interface-id": interface["interface_id"],
    }
    if public_ip:
        first_private = interface["private_ips"][0]
        entries["ipv4-associations"] = _Dir({public_ip: first_private})
    entries |= {
        "local-hostname": interface["local_hostname"],
        "local-ipv4s": "\n".join(interface["private_ips"]),
        "mac": interface["mac"],
        "network-card-index": "0",
        "owner-id": interface["owner_id"],
    }
    if public_ip:
        entries["public-hostname"] = interface["public_dns"]
        entries["public-ipv4s"] = public_ip
    entries |= {
        "security-group-ids": "\n".join(g["id"] for g in interface["security_groups"]),
        "security-groups": "\n".join(g["name"] for g in interface["security_groups"]),
        "subnet-id": interface["subnet_id"] or "",
        "subnet-ipv4-cidr-block": interface["subnet_cidr"] or "",
        "vpc-id": interface["vpc_id"] or "",
        "vpc-ipv4-cidr-block": interface["vpc_cidr"] or "",
        "vpc-ipv4-cidr-blocks": "\n".join(interface["vpc_cidrs"]),
    }
    return _Dir(entries)


def _meta_data(endpoint: MetadataEndpoint, instance: dict) -> _Dir:
    """``/latest/meta-data/``: every category AWS's "Instance metadata categories" page lists
    for an instance like this one, each present exactly when AWS says it is."""
    region = instance["region"]
    family = instance["instance_type"].split(".")[0]
    entries = {
        "ami-id": instance["image_id"],
        "ami-launch-index": str(instance["ami_launch_index"]),
        "ami-manifest-path": "(unknown)",  # EBS-backed AMIs have no manifest in S3
        "block-device-mapping": _Dir(
            {"ami": instance["root_device_name"], "root": instance["root_device_name"]}
        ),
        "events": _Dir({"maintenance": _Dir({"history": "[]", "scheduled": "[]"})}),
        "hostname": instance["private_dns"],
    }
    if instance["profile"]:
        entries["iam"] = _Dir({"info": None, "security-credentials": _Dir({})})  # see _iam
    entries |= {
        "identity-credentials": _Dir(
            {"ec2": _Dir({"info": None, "security-credentials": _Dir({"ec2-instance": None})})}
        ),
        "instance-action": "none",
        "instance-id": instance["instance_id"],
        "instance-life-cycle": instance["lifecycle"],
        "instance-type": instance["instance_type"],
        "local-hostname": instance["private_dns"],
        "local-ipv4": instance["private_ip"],
        "mac": instance["mac"],
        "metrics": _Dir({"vhostmd": VHOSTMD}),
        "network": _Dir(
            {
                "interfaces": _Dir(
                    {"macs": _Dir({i["mac"]: _interface_dir(i) for i in instance["interfaces"]})}
                )
            }
        ),
        "placement": _Dir(
            {
                "availability-zone": instance["availability_zone"],
                "availability-zone-id": instance["availability_zone_id"] or "",
                "region": region,
            }
        ),
        "profile": "default-hvm",
    }
    if instance["public_ip"]:
        entries["public-hostname"] = instance["public_dns"]
        entries["public-ipv4"] = instance["public_ip"]
    if key := instance["public_key"]:
        entries["public-keys"] = _Dir(
            {"0": _Dir({"openssh-key": key["openssh_key"]})}, listing=f"0={key['name']}"
        )
    entries |= {
        "reservation-id": instance["reservation_id"] or "",
        "security-groups": "\n".join(g["name"] for g in instance["security_groups"]),
        "services": _Dir({"domain": "amazonaws.com", "partition": "aws"}),
        "system": "xen" if family in XEN_FAMILIES else "nitro",
    }
    if instance["instance_metadata_tags"] == "enabled":
        entries["tags"] = _Dir({"instance": _Dir(dict(instance["tags"]))})
    return _Dir(entries)


def _user_data(instance: dict) -> bytes | None:
    encoded = instance.get("user_data_base64")
    return base64.b64decode(encoded) if encoded else None


def _tree(endpoint: MetadataEndpoint, instance: dict, path: str) -> MetadataResponse:
    if path.strip("/") == "":
        return MetadataResponse(200, "\n".join(VERSIONS))
    version, _, rest = path.lstrip("/").partition("/")
    if version not in VERSIONS:
        return _error(404)
    user_data = _user_data(instance)
    if rest.strip("/") == "":
        return MetadataResponse(200, "dynamic\nmeta-data" + ("\nuser-data" if user_data else ""))
    if rest.rstrip("/") == "user-data":
        if not user_data:
            return _error(404)
        return MetadataResponse(
            200,
            user_data.decode("utf-8", errors="replace"),
            content_type="application/octet-stream",
            raw=user_data,
        )
    category, _, key = rest.partition("/")
    if category == "dynamic":
        return _dynamic(endpoint, instance, key.strip("/"))
    if category != "meta-data":
        return _error(404)
    meta = "/" + key
    if key.startswith("iam") and (key == "iam" or key.startswith("iam/")):
        if not instance["profile"]:
            return _error(404)
        return _iam(endpoint, instance["profile"], key.strip("/"), meta)
    if key.startswith("identity-credentials/ec2/"):
        leaf = key.removeprefix("identity-credentials/ec2/").strip("/")
        if leaf == "info":
            return MetadataResponse(200, _identity_info(endpoint))
        if leaf == "security-credentials/ec2-instance":
            return MetadataResponse(200, _identity_credentials(endpoint, instance))
    node = _meta_data(endpoint, instance)
    for segment in [part for part in key.split("/") if part]:
        if not isinstance(node, _Dir) or segment not in node.entries:
            return _error(404)
        node = node.entries[segment]
    if isinstance(node, _Dir):
        return MetadataResponse(200, node.render())
    return MetadataResponse(200, node) if node is not None else _error(404)


def _dynamic(endpoint: MetadataEndpoint, instance: dict, key: str) -> MetadataResponse:
    """``/latest/dynamic/``: AWS's "Dynamic data categories"."""
    if key == "":
        return MetadataResponse(200, "fws/\ninstance-identity/")
    if key == "fws":
        return MetadataResponse(200, "instance-monitoring")
    if key == "fws/instance-monitoring":
        return MetadataResponse(200, instance.get("monitoring", "disabled"))
    if key == "instance-identity":
        return MetadataResponse(200, "document\npkcs7\nrsa2048\nsignature")
    document = _identity_document(endpoint, instance)
    if key == "instance-identity/document":
        return MetadataResponse(200, document)
    if key == "instance-identity/signature":
        return MetadataResponse(200, identity.signature(document.encode()))
    if key == "instance-identity/pkcs7":
        return MetadataResponse(200, identity.pkcs7(document.encode()))
    if key == "instance-identity/rsa2048":
        return MetadataResponse(200, identity.pkcs7(document.encode()))
    return _error(404)


def _iam(endpoint: MetadataEndpoint, profile: dict, key: str, meta: str) -> MetadataResponse:
    role = profile["role"] if profile["exists"] else None
    if key == "iam":
        return MetadataResponse(200, "info\nsecurity-credentials/")
    if key == "iam/info":
        return MetadataResponse(200, _info_document(profile))
    if key == "iam/security-credentials" and meta.endswith("/"):
        return MetadataResponse(200, role["name"]) if role else _error(404)
    name = key.removeprefix("iam/security-credentials/")
    if role is None or name != role["name"] or meta.endswith("/"):
        return _error(404)
    now = timezone.now()
    if not role["trusts_ec2"]:
        return MetadataResponse(
            200,
            _document(
                {
                    "Code": "AssumeRoleUnauthorizedAccess",
                    "Message": f"EC2 cannot assume the role {name}.  Please see documentation at "
                    "https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_iam-ec2.html"
                    "#troubleshoot_iam-ec2_errors-info-doc.",
                    "LastUpdated": _stamp(now),
                }
            ),
        )
    try:
        credentials = credentials_fetch(
            sandbox=endpoint.sandbox, instance_id=endpoint.instance_id, role_name=name
        )
    except connection.SandboxServerError:  # renewals raced this read: the SDK retries
        return MetadataResponse(503, "The credentials are being renewed. Try again.\n")
    except InstanceLimitReached as limit:  # the lab clock supplies its cap of instances
        return MetadataResponse(
            200, _document({"Code": "InstanceLimitExceeded", "Message": str(limit),
                            "LastUpdated": _stamp(now)})
        )  # fmt: skip
    key_row = credentials.access_key
    return MetadataResponse(
        200,
        _document(
            {
                "Code": "Success",
                "LastUpdated": _stamp(credentials.issued_at),
                "Type": "AWS-HMAC",
                "AccessKeyId": key_row.access_key_id,
                "SecretAccessKey": key_row.secret_access_key,
                "Token": key_row.session_token,
                "Expiration": _stamp(credentials.expires_at),
            }
        ),
    )


def _info_document(profile: dict) -> str:
    now = _stamp(timezone.now())
    if not profile["exists"]:
        return _document(
            {
                "Code": "InstanceProfileNotFound",
                "Message": "Instance Profile with id "
                f"{profile['id']} cannot be found. Please see documentation at "
                "https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_iam-ec2.html. "
                "EC2 can no longer provide credentials to your instance.",
                "LastUpdated": now,
            }
        )
    info = {
        "Code": "Success",
        "LastUpdated": now,
        "InstanceProfileArn": profile["arn"],
        "InstanceProfileId": profile["id"],
    }
    if profile["role"] is None:
        info["Message"] = (
            "Instance Profile does not contain a role. Add a role to the instance profile; "
            "credentials are delivered at the next scheduled refresh."
        )
    return _document(info)


def _identity_document(endpoint: MetadataEndpoint, instance: dict) -> str:
    """The instance identity document in the layout of AWS's "Instance identity documents"
    page: its keys in that page's order, four-space indent, ' : ' separators, nulls kept."""
    return json.dumps(
        {
            "devpayProductCodes": None,
            "marketplaceProductCodes": None,
            "availabilityZone": instance["availability_zone"],
            "privateIp": instance["private_ip"],
            "version": "2017-09-30",
            "instanceId": instance["instance_id"],
            "billingProducts": None,
            "instanceType": instance["instance_type"],
            "accountId": endpoint.sandbox.account_id,
            "imageId": instance["image_id"],
            "pendingTime": instance["launch_time"],
            "architecture": instance["architecture"],
            "kernelId": None,
            "ramdiskId": None,
            "region": instance["region"],
        },
        indent=4,
        separators=(",", " : "),
    )


def _identity_info(endpoint: MetadataEndpoint) -> str:
    """``identity-credentials/ec2/info``: which account the instance's identity belongs to."""
    now = identity.credentials_window(timezone.now())[0]
    return _document(
        {"Code": "Success", "LastUpdated": _stamp(now), "AccountId": endpoint.sandbox.account_id}
    )


def _identity_credentials(endpoint: MetadataEndpoint, instance: dict) -> str:
    """``identity-credentials/ec2/security-credentials/ec2-instance`` in the credentials
    document's format. AWS reserves these for its own use; the lab's authorize nothing (see
    ``metadata_identity.identity_credentials``)."""
    issued, expires = identity.credentials_window(timezone.now())
    key_id, secret, token = identity.identity_credentials(
        account_id=endpoint.sandbox.account_id, instance_id=instance["instance_id"], issued=issued
    )
    return _document(
        {
            "Code": "Success",
            "LastUpdated": _stamp(issued),
            "Type": "AWS-HMAC",
            "AccessKeyId": key_id,
            "SecretAccessKey": secret,
            "Token": token,
            "Expiration": _stamp(expires),
        }
    )

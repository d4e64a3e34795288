"""The instance metadata service of one lab instance, with AWS's paths, formats and status codes
(reference/imds.md). One request in, one response out, for the view and the terminal alike; to
answer, it reads the instance and its profile from the sandbox server and the role's current
credentials from the database, issuing the first set on demand (``credentials_fetch``)."""

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from learnlab.imds.credentials import InstanceLimitReached, credentials_fetch
from learnlab.imds.models import MetadataEndpoint
from learnlab.sandbox import connection

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


def _aws_id(prefix: str, moto_id: str) -> str:
    """A stable AWS-shaped id (``AIPA…``) for moto's lowercase ones."""
    digest = base64.b32encode(hashlib.sha256(moto_id.encode()).digest()).decode()
    return prefix + digest[:17]


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
    endpoint: MetadataEndpoint, *, method: str, path: str, headers: dict
) -> MetadataResponse:
    """Answer one request to the instance's metadata service. ``headers`` are lower-case."""
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
        return _token(endpoint, method, headers)
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


def _token(endpoint, method: str, headers: dict) -> MetadataResponse:
    if method != "PUT":
        return _error(405)
    if "x-forwarded-for" in headers:
        return _error(403)  # a proxy relayed it: the SSRF defence of IMDSv2
    try:
        ttl = int(headers.get(TOKEN_TTL_HEADER, ""))
    except ValueError:
        return _error(400)
    if not 1 <= ttl <= 21600:
        return _error(400)
    return MetadataResponse(
        200, token_issue(endpoint, ttl), headers={"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)}
    )


def _tree(endpoint: MetadataEndpoint, instance: dict, path: str) -> MetadataResponse:
    profile = instance["profile"]
    zone = instance["availability_zone"]
    leaves = {
        "ami-id": instance["image_id"],
        "ami-launch-index": "0",
        "hostname": instance["private_dns"],
        "instance-id": instance["instance_id"],
        "instance-type": instance["instance_type"],
        "local-hostname": instance["private_dns"],
        "local-ipv4": instance["private_ip"],
        "mac": instance["mac"],
        "placement/availability-zone": zone,
        "placement/region": instance["region"],
        "security-groups": "default",
    }
    listing = [
        "ami-id", "ami-launch-index", "hostname", "instance-id", "instance-type",
        "local-hostname", "local-ipv4", "mac", "placement/", "security-groups",
    ]  # fmt: skip
    if profile:
        listing.insert(3, "iam/")
    meta = path.removeprefix("/latest/meta-data")
    if path in ("/latest", "/latest/"):
        return MetadataResponse(
            200, "dynamic\nmeta-data" + ("\nuser-data" if instance["user_data"] else "")
        )
    if path == "/latest/meta-data/" or path == "/latest/meta-data":
        return MetadataResponse(200, "\n".join(listing))
    if path == "/latest/user-data":
        if not instance["user_data"]:
            return _error(404)
        return MetadataResponse(200, instance["user_data"], content_type="application/octet-stream")
    if path.rstrip("/") == "/latest/dynamic":
        return MetadataResponse(200, "instance-identity/")
    if path.rstrip("/") == "/latest/dynamic/instance-identity":
        return MetadataResponse(200, "document")
    if path == "/latest/dynamic/instance-identity/document":
        return MetadataResponse(200, _identity_document(endpoint, instance))
    if not path.startswith("/latest/meta-data/"):
        return _error(404)
    key = meta.strip("/")
    if key in leaves and (not meta.endswith("/") or key.startswith("placement/")):
        return MetadataResponse(200, leaves[key])
    if key == "placement":
        return MetadataResponse(200, "availability-zone\nregion")
    if key.startswith("iam") and profile:
        return _iam(endpoint, profile, key, meta)
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
                f"{_aws_id('AIPA', profile['id'])} cannot be found. Please see documentation at "
                "https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_iam-ec2.html. "
                "EC2 can no longer provide credentials to your instance.",
                "LastUpdated": now,
            }
        )
    info = {
        "Code": "Success",
        "LastUpdated": now,
        "InstanceProfileArn": profile["arn"],
        "InstanceProfileId": _aws_id("AIPA", profile["id"]),
    }
    if profile["role"] is None:
        info["Message"] = (
            "Instance Profile does not contain a role. Add a role to the instance profile; "
            "credentials are delivered at the next scheduled refresh."
        )
    return _document(info)


def _identity_document(endpoint: MetadataEndpoint, instance: dict) -> str:
    return json.dumps(
        {
            "accountId": endpoint.sandbox.account_id,
            "architecture": instance["architecture"],
            "availabilityZone": instance["availability_zone"],
            "billingProducts": None,
            "devpayProductCodes": None,
            "marketplaceProductCodes": None,
            "imageId": instance["image_id"],
            "instanceId": instance["instance_id"],
            "instanceType": instance["instance_type"],
            "kernelId": None,
            "pendingTime": instance["launch_time"],
            "privateIp": instance["private_ip"],
            "ramdiskId": None,
            "region": instance["region"],
            "version": "2017-09-30",
        },
        indent=2,
        separators=(",", " : "),
    )

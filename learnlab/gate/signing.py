"""SigV4, computed by botocore's own signer: the client's reference implementation, and the one
moto uses to check what the gate forwards."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/"
    r"(?P<service>[^/,\s]+)/aws4_request,\s*SignedHeaders=(?P<headers>[a-z0-9;\-]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_SKEW = timedelta(minutes=15)


@dataclass(frozen=True)
class Authorization:
    access_key_id: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str | None) -> Authorization | None:
    match = AUTHORIZATION.match((value or "").strip())
    if not match:
        return None
    return Authorization(
        access_key_id=match["key"],
        region=match["region"],
        service=match["service"],
        signed_headers=tuple(match["headers"].split(";")),
        signature=match["signature"],
    )


def request_time(headers: dict) -> datetime | None:
    try:
        return datetime.strptime(headers.get("x-amz-date", ""), AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def is_skewed(signed_at: datetime, now: datetime) -> bool:
    return abs(now - signed_at) > MAX_SKEW


def signature(
    *,
    auth: Authorization,
    method: str,
    raw_path: str,
    query: str,
    headers: dict,
    body: bytes,
    secret_access_key: str,
    session_token: str | None,
) -> str:
    """The signature of a request over ``auth.signed_headers`` (header names lower-case)."""
    signed = {name: headers.get(name, "") for name in auth.signed_headers}
    request = AWSRequest(
        method=method, url=raw_path + (f"?{query}" if query else ""), data=body, headers=signed
    )
    request.context["timestamp"] = headers.get("x-amz-date", "")
    signer_class = S3SigV4Auth if auth.service == "s3" else SigV4Auth
    signer = signer_class(
        Credentials(auth.access_key_id, secret_access_key, session_token or None),
        auth.service,
        auth.region,
    )
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)

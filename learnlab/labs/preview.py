"""The lab apps that run "on" a learner's instance, in-process: no socket is ever opened.

- The **URL preview** app (the IMDSv2 and SSRF lab): a web app that fetches whatever URL it is
  given, from the instance, with a plain GET and no headers of its own, the classic SSRF
  weakness. Only the instance's own metadata service answers it (through
  ``learnlab.imds.metadata.respond``); every other host, the LearnLab server included, is
  refused with a message that says so. It never resolves a name.
- The **container SDK**: an SDK's credential chain (botocore's own ``InstanceMetadataFetcher``)
  run from a container on the instance, whose requests cross one more network hop (the
  container's bridge), so that ``HttpPutResponseHopLimit`` decides whether its IMDSv2 token
  arrives. The hop is simulated: the metadata service is told how many hops the request took.
"""

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ReadTimeoutError
from botocore.utils import InstanceMetadataFetcher

from learnlab.gate.client import ResponseBody, header_text
from learnlab.imds.metadata import NO_ANSWER, respond
from learnlab.imds.services import endpoint_for
from learnlab.sandbox.models import Sandbox

METADATA_ADDRESSES = (
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
)
PREVIEW_LIMIT = 4000  # characters of an answer the preview page shows
CONTAINER_HOPS = 2  # instance -> container bridge -> container


class PreviewRefused(ValueError):
    """A URL the preview app will not fetch; the message says why and what it can fetch."""


@dataclass
class Preview:
    url: str
    status: int
    body: str


def _metadata_host(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")) in METADATA_ADDRESSES
    except ValueError:
        return False


def preview_target(url: str) -> str:
    """The metadata path ``url`` names; PreviewRefused for anything else."""
    url = url.strip()
    if not url:
        raise PreviewRefused("Give the app a URL to preview, for example http://169.254.169.254/.")
    if len(url) > 2000:
        raise PreviewRefused("That URL is longer than 2000 characters: the app refuses it.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise PreviewRefused(f"That is not a URL the app can read ({error}).") from error
    if parts.scheme.lower() != "http":
        raise PreviewRefused(
            f"The preview app fetches http:// URLs only, not {parts.scheme or 'a bare name'}:. "
            "In this lab it runs on your instance, where the address to try is "
            "http://169.254.169.254/latest/meta-data/."
        )
    host = parts.hostname or ""
    if not _metadata_host(host) or port not in (None, 80) or parts.username:
        raise PreviewRefused(
            f"The lab's preview app reaches only your own instance's metadata service "
            f"(http://169.254.169.254/), not {host or 'that address'}"
            f"{f':{port}' if port not in (None, 80) else ''}: in the lab nothing else is "
            f"reachable from the instance, and LearnLab's own servers never are."
        )
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def preview_fetch(*, sandbox: Sandbox, instance_id: str, url: str) -> Preview:
    """Fetch ``url`` as the vulnerable app does: a GET with no headers of its own."""
    path = preview_target(url)
    endpoint = endpoint_for(sandbox=sandbox, instance_id=instance_id)
    answer = respond(endpoint, method="GET", path=path, headers={}, via="preview")
    body = answer.body
    if len(body) > PREVIEW_LIMIT:
        body = body[:PREVIEW_LIMIT] + "\n[cut: the preview shows the first 4000 characters]"
    return Preview(url.strip(), answer.status, body)


class _HopTransport:
    """Where botocore's metadata fetcher sends, instead of urllib3: the instance's metadata
    service, told the request crossed ``hops`` hops."""

    def __init__(self, *, sandbox: Sandbox, instance_id: str, hops: int, via: str):
        self.endpoint = endpoint_for(sandbox=sandbox, instance_id=instance_id)
        self.hops, self.via = hops, via
        self.seen: list[tuple[str, str, int]] = []

    def send(self, request):
        url = urlsplit(request.url)
        if not _metadata_host(url.hostname or ""):
            raise ConnectionRefusedError(f"{url.hostname} is not the metadata service")
        answer = respond(
            self.endpoint,
            method=request.method,
            path=url.path or "/",
            headers={name.lower(): header_text(value) for name, value in request.headers.items()},
            hops=self.hops,
            via=self.via,
        )
        self.seen.append((request.method, url.path, answer.status))
        if answer.status == NO_ANSWER:
            raise ReadTimeoutError(endpoint_url=request.url)
        headers = HTTPHeaders()
        for name, value in answer.headers.items():
            headers[name] = value
        headers["Content-Type"] = answer.content_type
        return AWSResponse(request.url, answer.status, headers, ResponseBody(answer.body.encode()))


@dataclass
class SdkRun:
    access_key_id: str  # "" when the SDK found no credentials
    steps: list[str]


def container_sdk_run(*, sandbox: Sandbox, instance_id: str) -> SdkRun:
    """botocore's instance-metadata credential provider, run from a container on the
    instance: one hop more than the instance itself."""
    transport = _HopTransport(
        sandbox=sandbox, instance_id=instance_id, hops=CONTAINER_HOPS, via="container"
    )
    fetcher = InstanceMetadataFetcher(timeout=1, num_attempts=1)
    fetcher._session = transport  # botocore sends each request through _session.send
    found = fetcher.retrieve_iam_role_credentials()
    steps = [
        f"{method} {path}: "
        + ("no answer (timed out)" if status == NO_ANSWER else f"HTTP {status}")
        for method, path, status in transport.seen
    ]
    return SdkRun(found.get("access_key", "") if found else "", steps)

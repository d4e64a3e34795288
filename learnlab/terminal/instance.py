"""A shell "on" a lab instance: its facts, and its metadata service answered in-process.

Both ``curl`` and the AWS CLI's credential chain reach 169.254.169.254 through
``metadata_request``, which calls the same ``respond`` as the HTTP metadata service: no network.
"""

from urllib.parse import urlsplit

from botocore.awsrequest import AWSResponse, HTTPHeaders

from learnlab.gate.client import ResponseBody, header_text
from learnlab.imds.metadata import MetadataResponse, respond
from learnlab.imds.services import endpoint_for
from learnlab.sandbox.models import Sandbox

METADATA_HOSTS = ("169.254.169.254", "fd00:ec2::254")


def host_name(facts: dict) -> str:
    """The instance's hostname as Amazon Linux shows it: ``ip-172-31-5-20``."""
    private_ip = facts.get("private_ip") or ""
    return "ip-" + private_ip.replace(".", "-") if private_ip else facts["instance_id"]


def is_metadata_host(host: str) -> bool:
    return host.strip("[]").lower() in METADATA_HOSTS


def metadata_request(
    *, sandbox: Sandbox, instance_id: str, method: str, path: str, headers: dict
) -> MetadataResponse:
    """One request to the instance's metadata service. ``headers`` are lower-case."""
    endpoint = endpoint_for(sandbox=sandbox, instance_id=instance_id)
    return respond(endpoint, method=method, path=path or "/", headers=headers)


class MetadataTransport:
    """What botocore's metadata fetcher sends through instead of urllib3 (``send`` only)."""

    def __init__(self, *, sandbox: Sandbox, instance_id: str):
        self.sandbox, self.instance_id = sandbox, instance_id

    def send(self, request):
        url = urlsplit(request.url)
        if not is_metadata_host(url.hostname or ""):
            raise ConnectionRefusedError(f"{url.hostname} is not the metadata service")
        answer = metadata_request(
            sandbox=self.sandbox,
            instance_id=self.instance_id,
            method=request.method,
            path=url.path,
            headers={name.lower(): header_text(value) for name, value in request.headers.items()},
        )
        headers = HTTPHeaders()
        for name, value in answer.headers.items():
            headers[name] = value
        headers["Content-Type"] = answer.content_type
        return AWSResponse(request.url, answer.status, headers, ResponseBody(answer.body.encode()))

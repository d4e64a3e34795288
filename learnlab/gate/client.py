"""boto3 clients for LearnLab's own AWS calls (console forms, terminal, task cluster).

They send through ``gate_handle`` in-process, so they take the same path as a learner's own AWS
CLI: the same authentication, fidelity fixes and account mapping, minus an HTTP hop.
"""

import threading
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config

from learnlab.gate.services import GateRequest, gate_handle
from learnlab.sandbox.models import AccessKey, Sandbox

ENDPOINT = "http://gate.learnlab.internal/aws"
_session = boto3.session.Session()
_session_lock = threading.Lock()  # client creation from one botocore session is not thread safe


class _Body:
    def __init__(self, data: bytes):
        self.data = data

    def stream(self, **_kwargs):
        yield self.data


def _send_through_gate(request, **_kwargs):
    url = urlsplit(request.url)
    body = request.body or b""
    if hasattr(body, "read"):
        body = body.read()
    elif isinstance(body, str):
        body = body.encode()
    headers = {name.lower(): _text(value) for name, value in request.headers.items()}
    headers.setdefault("host", url.netloc)  # signed from the URL; HTTP would send it
    response = gate_handle(
        GateRequest(
            method=request.method, raw_path=url.path, query=url.query, headers=headers, body=body
        )
    )
    response_headers = HTTPHeaders()
    for name, value in response.headers.items():
        response_headers[name] = value
    return AWSResponse(request.url, response.status, response_headers, _Body(response.body))


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def attach_gate(events) -> None:
    """Send every request made through ``events`` (a botocore client's or session's event
    system) to ``gate_handle`` in-process instead of over HTTP."""
    events.register("before-send", _send_through_gate, unique_id="learnlab-gate")


def aws_client(service: str, *, sandbox: Sandbox, key: AccessKey | None = None):
    """A boto3 client acting in ``sandbox`` as ``key`` (default: the learner's lab user)."""
    key = key or sandbox.lab_key()
    with _session_lock:
        client = _session.client(
            service,
            endpoint_url=ENDPOINT,
            region_name=sandbox.region,
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            aws_session_token=key.session_token or None,
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )
    attach_gate(client.meta.events)
    return client

"""boto3 clients for LearnLab's own AWS calls (console forms, terminal, task cluster).

They send through ``gate_handle`` in-process, so they take the same path as a learner's own AWS
CLI: the same authentication, fidelity fixes and account mapping, minus an HTTP hop.
"""

import contextvars
import functools
import io
import threading
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config
from botocore.credentials import Credentials, ReadOnlyCredentials

from learnlab.gate.parsing import GATE_PREFIX
from learnlab.gate.services import GateRequest, gate_handle
from learnlab.sandbox.models import AccessKey, Sandbox

ENDPOINT = f"http://gate.learnlab.internal{GATE_PREFIX}"
_session = boto3.session.Session()
_session_lock = threading.Lock()  # client creation from one botocore session is not thread safe


class ResponseBody(io.BytesIO):
    """A response body as botocore reads it: whole (``stream``) or as a file (S3 objects)."""

    def stream(self, **_kwargs):
        yield self.getvalue()


def _send_through_gate(request, **_kwargs):
    url = urlsplit(request.url)
    body = request.body or b""
    if hasattr(body, "read"):
        body = body.read()
    elif isinstance(body, str):
        body = body.encode()
    headers = {name.lower(): header_text(value) for name, value in request.headers.items()}
    headers.setdefault("host", url.netloc)  # signed from the URL; HTTP would send it
    response = gate_handle(
        GateRequest(
            method=request.method,
            raw_path=url.path,
            query=url.query,
            headers=headers,
            body=body,
            in_process=True,
        )
    )
    response_headers = HTTPHeaders()
    for name, value in response.headers.items():
        response_headers[name] = value
    return AWSResponse(request.url, response.status, response_headers, ResponseBody(response.body))


def header_text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def attach_gate(events) -> None:
    """Send every request made through ``events`` (a botocore client's or session's event
    system) to ``gate_handle`` in-process instead of over HTTP."""
    events.register("before-send", _send_through_gate, unique_id="learnlab-gate")


class _CallersKey(Credentials):
    """Credentials that are whichever key the current call is made with (``_call_key``), so
    one client per service serves every sandbox: creating a botocore client costs 5-15 ms of
    CPU and about a megabyte, too much for each page and check."""

    def __init__(self):
        super().__init__("unset", "unset")

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        key = _call_key.get()
        if key is None:
            raise RuntimeError("an AWS call made outside a SandboxClient")
        return ReadOnlyCredentials(
            key.access_key_id, key.secret_access_key, key.session_token or None
        )


_call_key: contextvars.ContextVar[AccessKey | None] = contextvars.ContextVar(
    "aws_call_key", default=None
)


@functools.cache
def _shared_client(service: str, region: str):
    with _session_lock:
        client = _session.client(
            service,
            endpoint_url=ENDPOINT,
            region_name=region,
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )
    client._request_signer._credentials = _CallersKey()  # signed per call, really (SigV4)
    attach_gate(client.meta.events)
    return client


class SandboxClient:
    """A boto3 client as one access key: every call (and every page of a paginator) is signed
    with that key and sent to the gate in-process."""

    def __init__(self, client, key: AccessKey):
        self._client, self._key = client, key

    def __getattr__(self, name: str):
        attribute = getattr(self._client, name)
        if name == "get_paginator":
            return lambda operation: _Paginator(attribute(operation), self._key)
        if not callable(attribute) or name.startswith("_"):
            return attribute  # meta, exceptions

        @functools.wraps(attribute)
        def call(*args, **kwargs):
            token = _call_key.set(self._key)
            try:
                return attribute(*args, **kwargs)
            finally:
                _call_key.reset(token)

        return call


class _Paginator:
    def __init__(self, paginator, key: AccessKey):
        self._paginator, self._key = paginator, key

    def paginate(self, **kwargs):
        pages = iter(self._paginator.paginate(**kwargs))
        while True:
            token = _call_key.set(self._key)
            try:
                page = next(pages, None)
            finally:
                _call_key.reset(token)
            if page is None:
                return
            yield page


def aws_client(service: str, *, sandbox: Sandbox, key: AccessKey | None = None) -> SandboxClient:
    """A boto3 client acting in ``sandbox`` as ``key`` (default: the learner's lab user)."""
    return SandboxClient(_shared_client(service, sandbox.region), key or sandbox.lab_key())

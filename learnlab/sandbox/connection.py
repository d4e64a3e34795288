"""The one connection to the sandbox server: pooled HTTP for AWS calls and internal endpoints."""

import json

import urllib3
from django.conf import settings

SECRET_HEADER = "X-LearnLab-Secret"  # noqa: S105 - a header name, not a secret
_pool = urllib3.PoolManager(
    num_pools=4,
    maxsize=32,
    retries=False,
    timeout=urllib3.Timeout(connect=2.0, read=30.0),
)


class SandboxServerUnavailable(Exception):
    """The sandbox server did not answer: it is down or restarting."""


class SandboxServerError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _request(method: str, path: str, *, headers: dict, body: bytes | None, timeout=None):
    try:
        return _pool.request(
            method,
            settings.LEARNLAB_SANDBOX_URL + path,
            headers=headers,
            body=body,
            redirect=False,
            preload_content=True,
            timeout=timeout,
        )
    except urllib3.exceptions.HTTPError as error:
        raise SandboxServerUnavailable(str(error)) from error


def admin_call(method: str, path: str, body: dict | None = None, *, timeout=None) -> dict:
    """Call an internal endpoint (``/_admin/...``); raises SandboxServerError on a non-200."""
    response = _request(
        method,
        "/_admin/" + path.lstrip("/"),
        headers={
            SECRET_HEADER: settings.LEARNLAB_SANDBOX_SECRET,
            "Content-Type": "application/json",
        },
        body=json.dumps(body).encode() if body is not None else None,
        timeout=timeout,
    )
    try:
        payload = json.loads(response.data or b"{}")
    except ValueError:
        payload = {"code": "BadResponse", "message": response.data[:200].decode(errors="replace")}
    if response.status != 200:
        raise SandboxServerError(
            response.status, payload.get("code", ""), payload.get("message", "")
        )
    return payload


def forward(method: str, path: str, *, headers: dict, body: bytes):
    """Send one signed AWS request on to moto; returns the urllib3 response."""
    return _request(method, path, headers=headers, body=body or None)


def upstream_host() -> str:
    """The Host header the sandbox server expects on forwarded requests."""
    return urllib3.util.parse_url(settings.LEARNLAB_SANDBOX_URL).netloc

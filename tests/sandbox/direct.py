"""AWS calls straight to the real sandbox server process, exactly as the gate forwards them: the
shared secret, ``x-moto-account-id`` and a SigV4 header signed with the learner's own key.
Tests of the server's own defences use them, so the gate's checks cannot mask a hole."""

import urllib.parse

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from learnlab.sandbox import connection

REGION = "us-east-1"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def direct(sandbox_server, sandbox, service, body, *, headers=None, path="/", method="POST"):
    """One AWS call straight to the sandbox server in ``sandbox``'s account."""
    key = sandbox.lab_key()
    url = sandbox_server["url"] + path
    body = body.encode() if isinstance(body, str) else body
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), service, REGION).add_auth(
        request
    )
    sent = {
        **dict(request.headers.items()),
        "x-moto-account-id": sandbox.account_id,
        connection.SECRET_HEADER: sandbox_server["secret"],
    }
    response = urllib3.request(method, url, body=body, headers=sent, timeout=10, retries=False)
    return response.status, response.data.decode()


def query(sandbox_server, sandbox, service, version, raw, *, content_type=FORM):
    """A query-protocol call: ``raw`` is the form body exactly as sent (duplicates kept)."""
    return direct(
        sandbox_server,
        sandbox,
        service,
        f"Version={version}&{raw}",
        headers={"Content-Type": content_type},
    )


def json_call(sandbox_server, sandbox, service, target, text):
    """A JSON-protocol call; ``text`` is the body exactly as sent (escapes kept)."""
    return direct(
        sandbox_server,
        sandbox,
        service,
        text,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target},
    )


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")

"""The one connection to the sandbox servers: pooled HTTP for AWS calls and internal endpoints.

With ``LEARNLAB_SANDBOX_SERVERS`` > 1 there are several; each sandbox records the index of the
one that holds its account (``Sandbox.server``), and calls about an account go there.
"""

import json
import re

import urllib3
from django.conf import settings

from learnlab.sandbox.calls import RecordedCall

SECRET_HEADER = "X-LearnLab-Secret"  # noqa: S105 - a header name, not a secret
SEED_HEADER = "X-LearnLab-Seed"  # moto's random ids for this call come from it
# Deadlines, enforced on every call (urllib3 takes ``timeout=None`` as "wait for ever"). An AWS
# call into moto takes milliseconds and quotas keep it so; a rebuild replays a whole log.
AWS_CALL_DEADLINE = urllib3.Timeout(connect=2.0, read=15.0)
ADMIN_DEADLINE = urllib3.Timeout(connect=2.0, read=10.0)
REBUILD_DEADLINE = urllib3.Timeout(connect=2.0, read=120.0)
_pool = urllib3.PoolManager(num_pools=4, maxsize=32, retries=False)


class SandboxServerUnavailable(Exception):
    """The sandbox server did not answer: it is down or restarting."""


class SandboxServerError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


# What callers catch when the sandbox server is down or refused an internal call.
SANDBOX_ERRORS = (SandboxServerUnavailable, SandboxServerError)
# What a learner reads meanwhile: pages say it and retry by themselves (sandbox/_reconnecting).
RECONNECTING = (
    "Reconnecting to your sandbox… The sandbox server is restarting, which takes a few seconds. "
    "Nothing you built and none of your progress is lost."
)


ACCOUNT_PATH = re.compile(r"^accounts/(\d{12})(?:/|$)")


def server_urls() -> list[str]:
    """Every sandbox server's base URL: LEARNLAB_SANDBOX_URL's port, then the next ones."""
    base = urllib3.util.parse_url(settings.LEARNLAB_SANDBOX_URL)
    return [
        base._replace(port=base.port + index, path=None).url
        for index in range(settings.LEARNLAB_SANDBOX_SERVERS)
    ]


def server_url(server: int) -> str:
    urls = server_urls()
    return urls[server % len(urls)]


_servers_of_accounts: dict[str, int] = {}  # a sandbox never moves: cache what is recorded


def _server_of_account(account_id: str) -> int:
    from learnlab.sandbox.models import Sandbox

    if account_id not in _servers_of_accounts:
        found = Sandbox.objects.filter(account_id=account_id).values_list("server", flat=True)
        server = found.first()
        if server is None:
            return 0  # not recorded (yet): not cached either
        _servers_of_accounts[account_id] = server
    return _servers_of_accounts[account_id]


def _request(method: str, path: str, *, headers: dict, body: bytes | None, server: int, timeout):
    try:
        return _pool.request(
            method,
            server_url(server) + path,
            headers=headers,
            body=body,
            redirect=False,
            preload_content=True,
            timeout=timeout,
        )
    except urllib3.exceptions.HTTPError as error:
        raise SandboxServerUnavailable(str(error)) from error


def admin_call(
    method: str, path: str, body: dict | None = None, *, server: int | None = None, timeout=None
) -> dict:
    """Call an internal endpoint (``/_admin/...``) by path; raises SandboxServerError on a
    non-200. The named calls below are what the rest of LearnLab uses.

    Paths about an account go to the server holding it; others to ``server`` (default 0).
    ``timeout`` (seconds or a urllib3 Timeout) defaults to ADMIN_DEADLINE.
    """
    if server is None:
        account = ACCOUNT_PATH.match(path.lstrip("/"))
        one = settings.LEARNLAB_SANDBOX_SERVERS == 1
        server = _server_of_account(account[1]) if account and not one else 0
    response = _request(
        method,
        "/_admin/" + path.lstrip("/"),
        headers={
            SECRET_HEADER: settings.LEARNLAB_SANDBOX_SECRET,
            "Content-Type": "application/json",
        },
        body=json.dumps(body).encode() if body is not None else None,
        server=server,
        timeout=ADMIN_DEADLINE if timeout is None else timeout,
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


def admin_call_each(method: str, path: str, *, timeout=None) -> list[dict]:
    """The same internal call on every sandbox server, in server order."""
    return [
        admin_call(method, path, server=server, timeout=timeout)
        for server in range(settings.LEARNLAB_SANDBOX_SERVERS)
    ]


def forward(method: str, path: str, *, headers: dict, body: bytes, server: int):
    """Send one signed AWS request on to moto; returns the urllib3 response."""
    return _request(
        method, path, headers=headers, body=body or None, server=server, timeout=AWS_CALL_DEADLINE
    )


def upstream_host(server: int) -> str:
    """The Host header the sandbox server expects on forwarded requests."""
    return urllib3.util.parse_url(server_url(server)).netloc


# The internal endpoints by name (``server.py``'s docstring lists them): callers use these, not
# paths. Each raises SandboxServerError on a refusal, SandboxServerUnavailable when down.


def health(*, server: int = 0, timeout=None) -> dict:
    """The server's boot id, account count and memory."""
    return admin_call("GET", "health", server=server, timeout=timeout)


def health_each(*, timeout=None) -> list[dict]:
    """Every server's ``health``, in server order."""
    return admin_call_each("GET", "health", timeout=timeout)


def account_bootstrap(
    account_id: str,
    *,
    user_name: str,
    server: int | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    replay: list[RecordedCall] | None = None,
    role_sessions: list | None = None,
) -> dict:
    """Create the account's lab user with new keys (or, to rebuild, the given ones, replaying
    ``replay``'s recorded calls and restoring ``role_sessions``); returns the user's keys."""
    body: dict = {"user_name": user_name}
    if access_key_id is not None:
        body |= {"access_key_id": access_key_id, "secret_access_key": secret_access_key}
    if replay is not None:
        body |= {"replay": [call.as_json() for call in replay]}
    if role_sessions is not None:
        body |= {"role_sessions": role_sessions}
    rebuild = replay is not None
    return admin_call(
        "PUT",
        f"accounts/{account_id}",
        body,
        server=server,
        timeout=REBUILD_DEADLINE if rebuild else None,
    )


def account_drop(account_id: str, *, server: int | None = None) -> None:
    """Drop the account and free its memory."""
    admin_call("DELETE", f"accounts/{account_id}", server=server)


def access_key_rotate(account_id: str, *, user_name: str, retire: str) -> dict:
    """A new key for the lab user; ``retire`` (the old key id) stops working at once."""
    body = {"user_name": user_name, "retire": retire}
    return admin_call("POST", f"accounts/{account_id}/access-keys", body)


def role_get(account_id: str, role_name: str) -> dict:
    """A role's ``arn`` and ``trust_policy``."""
    return admin_call("GET", f"accounts/{account_id}/roles/{role_name}")


def instance_profile_get(account_id: str, name: str) -> dict:
    """An instance profile's ARN and roles."""
    return admin_call("GET", f"accounts/{account_id}/instance-profiles/{name}")


def role_credentials_mint(
    account_id: str, *, role_name: str, session_name: str, duration_seconds: int, region: str
) -> dict:
    """Temporary credentials for the role, as STS would issue them."""
    body = {
        "role_name": role_name,
        "session_name": session_name,
        "duration_seconds": duration_seconds,
        "region": region,
    }
    return admin_call("POST", f"accounts/{account_id}/role-credentials", body)


def role_credentials_forget(account_id: str, access_key_id: str) -> None:
    """The sandbox server forgets these temporary credentials."""
    admin_call("DELETE", f"accounts/{account_id}/role-credentials/{access_key_id}")


def instance_get(account_id: str, instance_id: str) -> dict:
    """An instance as its metadata service sees it (state, profile, role, metadata options)."""
    return admin_call("GET", f"accounts/{account_id}/instances/{instance_id}")


def attached_instances(*, server: int = 0) -> list:
    """[account, region, instance id, role name] of every running instance on ``server`` whose
    profile holds a role EC2 may assume."""
    return admin_call("GET", "attached-instances", server=server)["instances"]

"""The one connection to the sandbox servers: pooled HTTP for AWS calls and internal endpoints.

The servers are a list (``LEARNLAB_SANDBOX_URLS``: base URLs on any hosts, each with a name, by
default its ``host:port``; or the shorthand ``LEARNLAB_SANDBOX_SERVERS``: that many on consecutive
ports from ``LEARNLAB_SANDBOX_URL``'s, named ``0``, ``1``...). Each sandbox records the *name* of
the one that holds its account (``Sandbox.server``), so a reordered list never sends a learner to
the wrong server; calls about an account go there. A sandbox whose server is no longer listed is
moved to a listed one and rebuilt from its recorded calls (``drain.sandboxes_unlisted_move``).
"""

import json
import re
from dataclasses import dataclass

import urllib3
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

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


class ServerNotListed(SandboxServerUnavailable):
    """A sandbox is recorded on a server the list no longer names: it is moved and rebuilt."""


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


class ServerListError(ImproperlyConfigured):
    """LEARNLAB_SANDBOX_URLS (or the shorthand) does not name a usable list of servers."""


@dataclass(frozen=True)
class Server:
    name: str  # what a sandbox records: stable whatever the list's order
    url: str  # scheme://host:port, nothing after it


SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\[\]-]{0,63}$")
MAX_SERVERS = 100
_URLS_HELP = (
    "LEARNLAB_SANDBOX_URLS is a comma-separated list of sandbox servers' base URLs, each "
    "optionally named: 'http://10.0.0.5:5055,b=http://10.0.0.6:5055'"
)


def _server_url(text: str, *, entry: str) -> str:
    try:
        url = urllib3.util.parse_url(text)
    except urllib3.exceptions.LocationParseError as error:
        raise ServerListError(f"{entry!r} is not a URL. {_URLS_HELP}.") from error
    if url.scheme not in ("http", "https") or not url.host:
        raise ServerListError(
            f"{entry!r}: a sandbox server's URL starts with http:// or https:// and names a host. "
            f"{_URLS_HELP}."
        )
    if url.auth or url.query or url.fragment or (url.path or "/") != "/":
        raise ServerListError(
            f"{entry!r}: a sandbox server's URL is scheme://host:port only, no path, user or "
            f"query. {_URLS_HELP}."
        )
    port = url.port or (443 if url.scheme == "https" else 80)
    return url._replace(host=url.host.lower(), port=port, path=None).url


def parse_server_list(text: str) -> tuple[Server, ...]:
    """``LEARNLAB_SANDBOX_URLS``'s servers, in order; ServerListError says what is wrong."""
    servers: list[Server] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        name, sep, url_text = entry.partition("=")
        if not sep or "://" in name:  # no name given ('=' inside the URL is no name either)
            name, url_text = "", entry
        name, url_text = name.strip(), url_text.strip()
        url = _server_url(url_text, entry=entry)
        name = name or urllib3.util.parse_url(url).netloc
        if not SERVER_NAME.fullmatch(name):
            raise ServerListError(
                f"{entry!r}: a server's name is 1 to 64 letters, digits, '.', '_', ':', '-'. "
                f"{_URLS_HELP}."
            )
        for other in servers:
            if other.name == name:
                raise ServerListError(f"Two sandbox servers are named {name!r}: names must differ.")
            if other.url == url:
                raise ServerListError(f"{url} is listed twice (as {other.name!r} and {name!r}).")
        servers.append(Server(name, url))
    if not servers:
        raise ServerListError(f"LEARNLAB_SANDBOX_URLS names no server. {_URLS_HELP}.")
    if len(servers) > MAX_SERVERS:
        raise ServerListError(f"At most {MAX_SERVERS} sandbox servers, not {len(servers)}.")
    return tuple(servers)


def _consecutive(base_url: str, count: int) -> tuple[Server, ...]:
    """The shorthand: ``count`` servers on consecutive ports from ``base_url``'s, named 0, 1..."""
    base = _server_url(base_url, entry=f"LEARNLAB_SANDBOX_URL={base_url}")
    first = urllib3.util.parse_url(base)
    if first.port + count - 1 > 65535:
        raise ServerListError(
            f"LEARNLAB_SANDBOX_SERVERS={count} from port {first.port} runs past port 65535."
        )
    return tuple(
        Server(str(index), first._replace(port=first.port + index).url) for index in range(count)
    )


_parsed: dict[tuple, tuple[Server, ...]] = {}


def servers() -> tuple[Server, ...]:
    """The listed sandbox servers, in list order (parsed once per value of the settings)."""
    urls = getattr(settings, "LEARNLAB_SANDBOX_URLS", "") or ""
    count = settings.LEARNLAB_SANDBOX_SERVERS
    key = (urls, settings.LEARNLAB_SANDBOX_URL, count)
    if key not in _parsed:
        if urls.strip():
            if count > 1:
                raise ServerListError(
                    "LEARNLAB_SANDBOX_URLS and LEARNLAB_SANDBOX_SERVERS are both set: the list "
                    "names every server, so unset LEARNLAB_SANDBOX_SERVERS."
                )
            _parsed[key] = parse_server_list(urls)
        else:
            _parsed[key] = _consecutive(settings.LEARNLAB_SANDBOX_URL, count)
    return _parsed[key]


def server_urls() -> list[str]:
    """Every listed sandbox server's base URL, in list order."""
    return [server.url for server in servers()]


def server_names() -> list[str]:
    """Every listed sandbox server's name, in list order: what loops over the servers use."""
    return [server.name for server in servers()]


def server_find(text: str) -> Server | None:
    """The listed server ``text`` names: its name, its URL, or its host:port."""
    text = text.strip()
    for server in servers():
        netloc = urllib3.util.parse_url(server.url).netloc
        if text in (server.name, server.url, server.url + "/", netloc):
            return server
    return None


def server_name(server: str | int | None) -> str:
    """A server's name: given as a name (what a sandbox records), as a position in the list
    (an int), or None for the first listed."""
    listed = servers()
    if server is None:
        return listed[0].name
    if isinstance(server, int):
        return listed[server % len(listed)].name
    return server


def server_url(server: str | int | None) -> str:
    """The base URL of a server given by name (or position); ServerNotListed if the list does
    not name it (its sandboxes are moved: ``drain.sandboxes_unlisted_move``)."""
    if isinstance(server, int) or server is None:
        return servers()[0 if server is None else server % len(servers())].url
    for listed in servers():
        if listed.name == server:
            return listed.url
    raise ServerNotListed(
        f"sandbox server {server!r} is not in the list any more; its sandboxes are being "
        "rebuilt on a listed one"
    )


def _server_of_account(account_id: str) -> str | None:
    """The server the account's sandbox records (read each time: a drain moves sandboxes)."""
    from learnlab.sandbox.models import Sandbox

    return Sandbox.objects.filter(account_id=account_id).values_list("server", flat=True).first()


def _request(
    method: str, path: str, *, headers: dict, body: bytes | None, server: str | int | None, timeout
):
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
    method: str,
    path: str,
    body: dict | None = None,
    *,
    server: str | int | None = None,
    timeout=None,
) -> dict:
    """Call an internal endpoint (``/_admin/...``) by path; raises SandboxServerError on a
    non-200. The named calls below are what the rest of LearnLab uses.

    Paths about an account go to the server its sandbox records; others to ``server`` (a name,
    a position in the list, default the first). ``timeout`` (seconds or a urllib3 Timeout)
    defaults to ADMIN_DEADLINE.
    """
    if server is None and len(servers()) > 1 and (account := ACCOUNT_PATH.match(path.lstrip("/"))):
        server = _server_of_account(account[1])  # with one server, no need to ask the record
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
    """The same internal call on every listed sandbox server, in list order."""
    return [admin_call(method, path, server=server, timeout=timeout) for server in server_names()]


def forward(method: str, path: str, *, headers: dict, body: bytes, server: str | int):
    """Send one signed AWS request on to moto; returns the urllib3 response."""
    return _request(
        method, path, headers=headers, body=body or None, server=server, timeout=AWS_CALL_DEADLINE
    )


def upstream_host(server: str | int) -> str:
    """The Host header the sandbox server expects on forwarded requests."""
    return urllib3.util.parse_url(server_url(server)).netloc


# The internal endpoints by name (``server.py``'s docstring lists them): callers use these, not
# paths. Each raises SandboxServerError on a refusal, SandboxServerUnavailable when down.


def health(*, server: str | int | None = None, timeout=None) -> dict:
    """The server's boot id, account count and memory."""
    return admin_call("GET", "health", server=server, timeout=timeout)


def health_each(*, timeout=None) -> list[dict]:
    """Every listed server's ``health``, in list order."""
    return admin_call_each("GET", "health", timeout=timeout)


def account_bootstrap(
    account_id: str,
    *,
    user_name: str,
    server: str | int | None = None,
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


def account_drop(account_id: str, *, server: str | int | None = None) -> None:
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


def attached_instances(*, server: str | int | None = None) -> list:
    """[account, region, instance id, role name] of every running instance on ``server`` whose
    profile holds a role EC2 may assume."""
    return admin_call("GET", "attached-instances", server=server)["instances"]

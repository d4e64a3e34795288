"""/live/wait in `manage.py runstack`'s asyncio front: each client address holds at most its
share of the process's waits (LEARNLAB_LIVE_WAITERS_PER_CLIENT), the excess answered 429 at
once with a Retry-After; behind LEARNLAB_TRUSTED_PROXIES the client is the address the proxy
saw (X-Forwarded-For), as the throttles count it; a wait that ends gives its place back."""

import http.client
import json
import time

import pytest

from learnlab.site.launch import free_port, stack_env, stack_start, stack_stop, stack_wait
from tests.helpers import live_cookie, live_wait_target

pytestmark = pytest.mark.e2e

SECRET = "live-share-test-secret-" + "z" * 40
SHARE = 3


def _wait_url() -> str:
    return live_wait_target(["class:9"], "0", secret=SECRET)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    port = free_port()
    env = stack_env(
        port=port,
        data_dir=tmp_path_factory.mktemp("live-share"),
        SECRET_KEY=SECRET,
        WEB_CONCURRENCY="1",
        LEARNLAB_LIVE_WAITERS="50",
        LEARNLAB_LIVE_WAITERS_PER_CLIENT=str(SHARE),
        LEARNLAB_TRUSTED_PROXIES="1",
    )
    process = stack_start(env)
    try:
        stack_wait(process, port)
        yield port
    finally:
        stack_stop(process)


def _open(port: int, forwarded: str) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    headers = {"X-Forwarded-For": forwarded, **live_cookie()}
    connection.request("GET", _wait_url(), headers=headers)
    return connection


def _status(connection: http.client.HTTPConnection):
    """The answer's status, headers and body, or "held" (none within the timeout)."""
    try:
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    except TimeoutError:
        return "held", {}, b""
    finally:
        connection.close()


def test_a_client_past_its_share_gets_429_at_once_and_others_are_still_held(stack):
    held = [_open(stack, "198.51.100.1") for _ in range(SHARE)]
    try:
        time.sleep(1.0)  # all read and held
        started = time.monotonic()
        status, headers, body = _status(_open(stack, "198.51.100.1"))
        assert status == 429 and time.monotonic() - started < 2.0
        assert headers.get("retry-after") == "10"
        assert f"at most {SHARE}" in json.loads(body)["error"]
        # The same proxy's peer, another client behind it: its own share.
        assert _status(_open(stack, "198.51.100.2"))[0] == "held"
        # A client writing its own X-Forwarded-For entries is still counted by the proxy's.
        assert _status(_open(stack, "203.0.113.5, 198.51.100.1"))[0] == 429
    finally:
        for connection in held:
            connection.close()
    time.sleep(1.0)  # the front sees them leave
    assert _status(_open(stack, "198.51.100.1"))[0] == "held"  # the places were given back

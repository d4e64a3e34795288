"""Red team R3: ``GET /live/wait`` in a real ``manage.py runstack`` (the asyncio front of
site/web.py), attacked as a hostile learner would: forged, copied and odd tokens, odd query
strings, other methods, and holding waits until the process's cap (LEARNLAB_LIVE_WAITERS).

The stack runs one web worker (WEB_CONCURRENCY=1) with a cap of CAP held waits, so the cap is
reached with a handful of sockets. Different client addresses are real: each connection binds
its own loopback source address (127.0.0.2, 127.0.0.3...), as separate machines would be."""

import http.client
import json
import socket
import time
from urllib.parse import quote

import pytest
from django.core import signing

from learnlab.live.services import SALT, session_binding, topics_sign
from learnlab.site.launch import free_port, stack_env, stack_start, stack_stop, stack_wait
from tests.helpers import LIVE_SESSION, live_cookie

pytestmark = pytest.mark.e2e

SECRET = "live-redteam-r3-secret-" + "y" * 40
CAP = 4


def _token(*keys: str, key: str = SECRET, session: str = LIVE_SESSION) -> str:
    """A page's token as the stack would render it for the visitor whose session is
    ``session`` (``_open`` sends that session's cookie unless told otherwise)."""
    return topics_sign(list(keys), session, secret=key)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    port = free_port()
    env = stack_env(
        port=port,
        data_dir=tmp_path_factory.mktemp("live-r3"),
        SECRET_KEY=SECRET,
        WEB_CONCURRENCY="1",
        LEARNLAB_LIVE_WAITERS=str(CAP),
    )
    process = stack_start(env)
    try:
        stack_wait(process, port)
        yield port
    finally:
        stack_stop(process)


def _open(
    port: int,
    target: str,
    *,
    source: str = "127.0.0.1",
    method: str = "GET",
    timeout=30,
    session: str | None = LIVE_SESSION,
):
    """A request from the loopback address ``source`` with ``session``'s cookie (None: no
    cookie); the connection, response not read."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0)
    )
    connection.request(method, target, headers=live_cookie(session) if session else {})
    return connection


def _answer(port: int, target: str, **kwargs) -> tuple[int, bytes]:
    connection = _open(port, target, **kwargs)
    try:
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _held_or_answered(connection) -> tuple[int | str, bytes]:
    """The answer's status and body, or ("held", b"") if none came within the connection's
    timeout; the connection is closed either way."""
    try:
        response = connection.getresponse()
        return response.status, response.read()
    except TimeoutError:
        return "held", b""
    finally:
        connection.close()


def _wait_url(token: str, versions: str) -> str:
    return f"/live/wait?t={quote(token)}&v={quote(versions, safe=',-')}"


def _assert_clear_refusal(status: int, body: bytes) -> None:
    assert 400 <= status < 500, (status, body[:300])
    text = body.decode("utf-8", "replace")
    assert "Traceback" not in text and "Exception" not in text, text[:300]


ODD_QUERIES = {
    "no query": "/live/wait",
    "empty t": "/live/wait?t=&v=0",
    "forged with a guessed key": _wait_url(_token("creds:111111111111", key="guessed"), "0"),
    "topics as a dict, signed": None,  # filled below (needs SECRET)
    "t repeated, the first forged": "/live/wait?t=x&t=" + quote(_token("class:1")) + "&v=0",
    "v with 1000 entries": _wait_url(_token("class:1"), ",".join(["0"] * 1000)),
    "v negative": _wait_url(_token("class:1"), "-1"),
    "v non-ASCII digits and text": "/live/wait?t=" + quote(_token("class:1")) + "&v=%D9%A1x",
    "v a NUL": "/live/wait?t=" + quote(_token("class:1")) + "&v=0%00",
    "t a NUL and non-ASCII": "/live/wait?t=%00%C3%A9%FF&v=0",
    "t raw bytes not UTF-8": "/live/wait?t=%FF%FE%FD&v=%FF",
    "v a 3000-digit number": _wait_url(_token("class:1"), "9" * 3000),
    "nine topics": _wait_url(_token(*[f"class:{n}" for n in range(9)]), ",".join(["0"] * 9)),
}
ODD_QUERIES["topics as a dict, signed"] = _wait_url(
    signing.dumps({"k": "class:1"}, salt=SALT, key=SECRET, compress=True), "0"
)
ODD_QUERIES["topics a string, signed and bound"] = _wait_url(
    signing.dumps(
        {"k": "class:1", "s": session_binding(LIVE_SESSION, SECRET)},
        salt=SALT,
        key=SECRET,
        compress=True,
    ),
    "0",
)
ODD_QUERIES["a list of topics as tokens were before sessions"] = _wait_url(
    signing.dumps(["class:1"], salt=SALT, key=SECRET, compress=True), "0"
)


@pytest.mark.parametrize("name", [n for n in ODD_QUERIES if n != "v a 3000-digit number"])
def test_odd_wait_queries_get_a_clear_4xx_never_a_500(stack, name):
    status, body = _answer(stack, ODD_QUERIES[name], timeout=10)
    _assert_clear_refusal(status, body)
    assert json.loads(body)["error"]  # the words say what to do


def test_a_huge_version_number_is_refused_or_held_never_a_500(stack):
    """3000 digits is under Python's int-from-string limit (4300): read, and held (not stale)."""
    connection = _open(stack, ODD_QUERIES["v a 3000-digit number"], timeout=2)
    status, _body = _held_or_answered(connection)
    assert status in ("held", 400), status


def test_a_query_string_past_the_request_line_limit_is_refused_not_a_500(stack):
    """v with 10^6 entries (2 MB in the request line): the front refuses it before Django."""
    target = "/live/wait?t=" + quote(_token("class:1")) + "&v=" + ",".join(["0"] * 10**6)
    with socket.create_connection(("127.0.0.1", stack), timeout=10) as raw:
        try:
            raw.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            first = raw.recv(200)
        except (ConnectionResetError, BrokenPipeError):
            first = b""  # closed on us: a refusal too
    if first:
        status = int(first.split(b" ", 2)[1])
        assert 400 <= status < 500, first
    status, _ = _answer(stack, "/healthz", timeout=10)
    assert status == 200  # and the worker lives on


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"])
def test_other_methods_are_refused_in_words(stack, method):
    status, body = _answer(stack, _wait_url(_token("class:1"), "0"), method=method, timeout=10)
    assert status == 405
    if method != "HEAD":
        assert "Use GET" in json.loads(body)["error"]


def test_one_client_holding_waits_does_not_take_the_cap_from_everyone(stack):
    """Attack: a learner (one address, one valid token of their own page, no cookie needed)
    opens a few more waits than the cap. Expected: they cannot take every slot: another
    learner's wait from another address is still held (the fix: a per-client share of the
    cap, e.g. at most CAP/10 held waits per address, the excess answered 503 at once).
    Today the other learner's wait gets 503 "Too many pages are waiting" at once."""
    attacker_token = _token("creds:111111111111")
    held = [
        _open(stack, _wait_url(attacker_token, "0"), source="127.0.0.2") for _ in range(CAP + 2)
    ]
    try:
        time.sleep(1.5)  # all read and held (the dispatcher's first look is within 250 ms)
        victim = _open(stack, _wait_url(_token("creds:222222222222"), "0"), source="127.0.0.3")
        victim.sock.settimeout(3)
        status, _body = _held_or_answered(victim)
        # Pages (threads, not the front's futures) are unaffected either way.
        assert _answer(stack, "/healthz", source="127.0.0.3", timeout=5)[0] == 200
        assert status == "held", f"the other learner's wait got {status}"
    finally:
        for connection in held:
            connection.close()


@pytest.mark.parametrize("session", [None, "another-learners-session-key-0000"])
def test_a_wait_token_is_refused_without_the_session_it_was_made_for(stack, session):
    """A token as a learner's credentials panel carries (creds:<their account>), copied (an
    access log line, a shared screenshot of the URL) and used from another address, with no
    cookie or another learner's. Before the fix it was held, and woken (200 with the new
    version) when that learner's credentials changed: a stranger learned when they renew,
    attach or detach a role. Now it is bound to the session it was rendered for: 403."""
    token = _token("creds:333333333333", "member:7")
    connection = _open(
        stack, _wait_url(token, "0,0"), source="127.0.0.4", timeout=2, session=session
    )
    status, body = _held_or_answered(connection)
    assert status == 403, status
    assert "another sign-in" in json.loads(body)["error"]
    # The learner's own session still has it: held (nothing changed), not refused.
    own = _open(stack, _wait_url(token, "0,0"), source="127.0.0.4", timeout=2)
    assert _held_or_answered(own)[0] == "held"

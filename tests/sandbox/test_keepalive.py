"""The sandbox server keeps connections alive (learnlab/sandbox/serving.py), so LearnLab's pool
(learnlab/sandbox/connection.py) sends call after call down one TCP connection; a request whose
body the application never read leaves nothing behind to spoil the next one."""

import http.client
import json
import socket
import statistics
import time

import urllib3

from learnlab.sandbox import connection


def _idle_socket_ports(url: str) -> set[int]:
    """The local ports of the live sockets LearnLab's pool keeps for the server."""
    pool = connection._pool.connection_from_url(url)
    return {c.sock.getsockname()[1] for c in list(pool.pool.queue) if c and c.sock}


def test_calls_through_connection_share_one_tcp_connection(sandbox_server):
    url = sandbox_server["url"]
    connection._pool.clear()  # connections earlier tests left in the pool
    ports = set()
    for _ in range(4):
        connection.health()
        found = _idle_socket_ports(url)
        # werkzeug's own run_wsgi answered "Connection: close": the pool kept no live socket.
        assert found, "the pool kept no open connection to the sandbox server"
        ports |= found
    assert len(ports) == 1  # every call went down the same TCP connection


def test_a_call_on_a_kept_connection_does_not_wait_for_a_delayed_ack(sandbox_server):
    """Headers and body sent in two writes on a kept connection met Nagle's algorithm: each
    answer waited about 40 ms for the client's delayed ACK (a call takes about 1 ms)."""
    connection.health()
    took = []
    for _ in range(21):
        began = time.monotonic()
        connection.health()
        took.append(time.monotonic() - began)
    assert statistics.median(took) < 0.02


def _raw(url: str) -> http.client.HTTPConnection:
    parsed = urllib3.util.parse_url(url)
    return http.client.HTTPConnection(parsed.host, parsed.port, timeout=10)


def test_one_socket_serves_requests_after_a_body_the_app_did_not_read(sandbox_server):
    """A refused internal call (bad secret) never reads its body: the next request on the same
    socket must still be parsed from its own first line."""
    client = _raw(sandbox_server["url"])
    secret = {connection.SECRET_HEADER: sandbox_server["secret"]}
    client.request("GET", "/_admin/health", headers=secret)
    first = client.getresponse()
    assert first.status == 200
    assert json.loads(first.read())["boot_id"]
    local_port = client.sock.getsockname()[1]

    body = b'{"user_name": "x"}' + b" " * 5000
    client.request(
        "PUT", "/_admin/accounts/123456789012", body=body, headers={connection.SECRET_HEADER: "no"}
    )
    refused = client.getresponse()
    assert refused.status == 403
    assert json.loads(refused.read())["code"] == "Forbidden"
    assert refused.getheader("Connection") != "close"

    client.request("GET", "/_admin/health", headers=secret)
    last = client.getresponse()
    assert last.status == 200
    assert json.loads(last.read())["boot_id"]
    assert client.sock.getsockname()[1] == local_port  # the same TCP connection all along
    client.close()


def test_http_1_0_and_connection_close_are_honoured(sandbox_server):
    parsed = urllib3.util.parse_url(sandbox_server["url"])
    request = (
        "GET /_admin/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"{connection.SECRET_HEADER}: {sandbox_server['secret']}\r\n\r\n"
    ).encode()
    with socket.create_connection((parsed.host, parsed.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):  # the server closes: recv returns b"" at the end
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Connection: close" in head
    assert json.loads(body)["boot_id"]


def test_bad_content_length_is_a_400_not_a_hang(sandbox_server):
    parsed = urllib3.util.parse_url(sandbox_server["url"])
    request = b"POST /_admin/health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"
    with socket.create_connection((parsed.host, parsed.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400")

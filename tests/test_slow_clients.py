"""Slow clients cannot take the site down: `make run`'s web server buffers requests off-thread.

A slowloris client sends its headers a byte a second. gunicorn's gthread worker parsed each on
the thread that would run it, so 8 of them (2 workers x 4 threads) stopped every page.
"""

import contextlib
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from learnlab.site.launch import free_port, stack_env, stack_start, stack_stop, stack_wait

pytestmark = pytest.mark.e2e

SLOW_CONNECTIONS = 50
KEEP_ALIVE_SECONDS = 10  # learnlab/site/supervisor.py


def _get(url: str, timeout: float):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def stack(tmp_path):
    """`make run` on free ports with its own data folder; yields the web port."""
    port = free_port()
    make = stack_start(stack_env(port=port, data_dir=tmp_path), make=True)
    try:
        stack_wait(make, port)
        yield port
    finally:
        stack_stop(make)


def _drip(port: int, stop: threading.Event) -> list[socket.socket]:
    """SLOW_CONNECTIONS connections, each sending its request headers a byte a second."""
    sockets = [socket.create_connection(("127.0.0.1", port), 5) for _ in range(SLOW_CONNECTIONS)]
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000

    def run():
        for byte in range(len(request)):
            for sock in sockets:
                with contextlib.suppress(OSError):  # the server gave up on it: fine
                    sock.send(request[byte : byte + 1])
            if stop.wait(1.0):
                return

    threading.Thread(target=run, daemon=True).start()
    return sockets


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.2)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True  # reset


def test_pages_answer_while_fifty_clients_send_headers_a_byte_a_second(stack):
    stop = threading.Event()
    connected = time.monotonic()
    sockets = _drip(stack, stop)
    try:
        time.sleep(3)  # every slow client has begun its request
        for _ in range(5):
            started = time.monotonic()
            status, body = _get(f"http://127.0.0.1:{stack}/", timeout=5)
            assert status == 200
            assert b"LearnLab" in body
            assert time.monotonic() - started < 3
        # Headers get the keep-alive time (10 s): then the server hangs up on the slow ones.
        time.sleep(max(0.0, connected + KEEP_ALIVE_SECONDS + 3 - time.monotonic()))
        assert all(_closed_by_server(sock) for sock in sockets)
    finally:
        stop.set()
        for sock in sockets:
            sock.close()

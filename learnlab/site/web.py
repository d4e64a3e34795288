"""The web server's front: gunicorn's asyncio worker reads requests whole, Django runs on threads.

Why: gunicorn's gthread worker parses a request on the thread that will run it, so a client that
sends its headers a byte a second holds a thread for as long as it likes; eight of them took the
site down (2 workers x 4 threads). gunicorn's `asgi` worker parses in its event loop, where a slow
client costs a small buffer and no thread. This adapter then waits for the whole body (at most
BODY_SECONDS, at most MAX_BODY bytes) before a request reaches one of THREADS threads, which run
LearnLab's WSGI application exactly as gthread did: the same thread-local database connections,
the same environ (PATH_INFO percent-decoded, headers with underscores dropped), the same signals.

Django's own ASGI handler is not used: it runs every sync view on one shared thread per process.

gunicorn's asgi worker gives a kept-alive connection its keep-alive time to send the next
request's headers, but a new connection's first request no deadline at all: `Worker` gives the
first the same, so a client dripping headers is closed after --keep-alive seconds.

Live pages' waits (``GET /live/wait``, learnlab/live/waiting.py) are answered here, in the event
loop, without a thread: a held wait costs a socket and a future, so a whole class can hold one
each. The header deadline above is cancelled once a request's headers are in, so it never cuts
a held answer, and a held wait (25 s) ends well inside gunicorn's 30 s worker timeout.
"""

import asyncio
import io
import sys
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from django.conf import settings
from django.http.cookie import parse_cookie
from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers import gasgi

from learnlab.lib.env import env_int
from learnlab.wsgi import application as wsgi_application  # sets Django up: before any model

# isort: split
from learnlab.lib.throttle import client_address
from learnlab.live import waiting

THREADS = max(1, env_int("LEARNLAB_WEB_THREADS", 4))
BODY_SECONDS = 30.0
# Twice the gate's cap: the gate (and Django) still see, and refuse in their own words, a body
# just over theirs; far beyond it the front refuses without buffering it.
MAX_BODY = 2 * settings.LEARNLAB_GATE_MAX_BODY

_threads = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="web")


class _HeaderDeadlineProtocol(ASGIProtocol):
    def _start_http1(self, buffered=b""):
        super()._start_http1(buffered)
        # Cancelled when the headers are complete, as for every later request on the connection.
        self._arm_keepalive_timer()


class Worker(gasgi.ASGIWorker):
    """gunicorn's asgi worker, with a deadline on a new connection's first request's headers."""

    def init_process(self):
        gasgi.ASGIProtocol = _HeaderDeadlineProtocol  # the one name its server factory uses
        super().init_process()


async def application(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["type"] == "http":
        await _http(scope, receive, send)
    # websockets: none served; returning closes the connection


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _http(scope, receive, send) -> None:
    try:
        body = await asyncio.wait_for(_body(receive), BODY_SECONDS)
    except TimeoutError:
        await _plain(send, 408, b"The request body did not arrive in time.\n")
        return
    except _TooLarge:
        await _plain(send, 413, b"The request body is too large.\n")
        return
    except _Disconnected:
        return
    if scope["path"] == waiting.PATH:
        await _live_wait(scope, receive, send)
        return
    loop = asyncio.get_running_loop()
    status, headers, content = await loop.run_in_executor(
        _threads, _run_wsgi, _environ(scope, body)
    )
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def _client_address(scope) -> str:
    """The client the live waits' per-address share counts: lib's ``client_address`` (the
    peer, or behind LEARNLAB_TRUSTED_PROXIES the address the outermost proxy saw) over the
    scope's peer and X-Forwarded-For headers, as Django's request would carry them."""
    forwarded = b",".join(value for name, value in scope["headers"] if name == b"x-forwarded-for")
    meta = {
        "REMOTE_ADDR": (scope.get("client") or ("", 0))[0],
        "HTTP_X_FORWARDED_FOR": forwarded.decode("latin-1"),
    }
    return client_address(SimpleNamespace(META=meta))


async def _live_wait(scope, receive, send) -> None:
    if scope["method"] != "GET":
        status, content = 405, b'{"error": "Use GET for /live/wait."}'
    else:
        query = scope.get("query_string", b"").decode("latin-1")
        status, content = await waiting.serve(
            query, _session_cookie(scope), _until_disconnect(receive), _client_address(scope)
        )
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    if status in (429, 503):
        headers.append((b"retry-after", str(waiting.RETRY_SECONDS).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def _session_cookie(scope) -> str | None:
    """The request's session cookie, as Django's request.COOKIES would read it."""
    header = b"; ".join(value for name, value in scope["headers"] if name == b"cookie")
    return parse_cookie(header.decode("latin-1")).get(settings.SESSION_COOKIE_NAME)


async def _until_disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


async def _body(receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _plain(send, status: int, text: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})


def _environ(scope, body: bytes) -> dict:
    """The WSGI environ gunicorn's own WSGI workers build for this request."""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    path = urllib.parse.unquote_to_bytes(raw_path.split(b"?", 1)[0]).decode("latin-1")
    root = scope.get("root_path", "")
    server_host, server_port = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    query = scope.get("query_string", b"").decode("latin-1")
    environ = {
        # As the client encoded it: the gate checks the SigV4 signature over this (gate/views.py).
        "RAW_URI": raw_path.decode("latin-1") + (f"?{query}" if query else ""),
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root,
        "PATH_INFO": path[len(root) :] if root and path.startswith(root) else path,
        "QUERY_STRING": query,
        "SERVER_NAME": str(server_host),
        "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0],
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper()
        if "_" in name:
            continue  # X-Forwarded_For must not pass for X-Forwarded-For (gunicorn drops it too)
        key = name.replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = f"HTTP_{key}"
        value = raw_value.decode("latin-1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    environ["CONTENT_LENGTH"] = str(len(body))  # the body as read, whatever the framing was
    return environ


def _run_wsgi(environ: dict) -> tuple[int, list, bytes]:
    started = {}

    def start_response(status, headers, exc_info=None):
        started["status"], started["headers"] = status, headers

    result = wsgi_application(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()  # Django's request_finished: connections tidied on this thread
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in started["headers"]
    ]
    return int(started["status"].split(" ", 1)[0]), headers, content

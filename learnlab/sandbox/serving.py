"""How the sandbox server's WSGI application is served over HTTP (``server.main`` calls ``serve``).

Kept apart from the application so that the HTTP server can change without touching moto's wrapping.

Connections are kept alive (HTTP/1.1): LearnLab's pool (``connection.py``) sends every AWS call
and internal call down a connection it already has, instead of a TCP connect and a new thread
each time. werkzeug's own ``run_wsgi`` cannot do that: it sends ``Connection: close`` after every
response whatever the protocol version (werkzeug 3.1.9, serving.py), and after each response it
drains whatever the socket holds for 10 ms, which on a kept connection would swallow the next
request. ``_KeepAliveHandler`` keeps werkzeug's request parsing and moto's environ
(``MotoRequestHandler.make_environ``: headers with underscores dropped but S3 metadata's, exactly
as moto's own server) and replaces only that step: it reads the whole body by its length before
the application runs (so nothing unread is left on the connection, whatever the application
read), and sends the answer with its length. A chunked request body, a body of bad length or a
client that asks for it closes the connection after the answer.

Each connection has its own thread (werkzeug's threaded server) for as long as the client keeps
it; moto runs one request at a time behind ``SandboxServer``'s lock, taken per request, so
requests on different connections wait for each other exactly as before.
"""

import io
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import make_server

NO_BODY_STATUSES = {204, 304}
# The largest body read into memory: the gate caps bodies far below this (limits.py), and moto
# keeps the S3 objects it is sent in memory anyway.
MAX_BODY = 64 * 1024 * 1024


class _KeepAliveHandler(MotoRequestHandler):
    protocol_version = "HTTP/1.1"  # BaseHTTPRequestHandler then keeps the connection by default
    # An answer leaves in one write, flushed at its end: with the status line and headers sent
    # apart from the body, Nagle's algorithm held the body until the client's delayed ACK of
    # the headers, 40 ms a call on a kept connection.
    wbufsize = 64 * 1024

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_request(self, code="-", size="-"):
        pass  # one line per AWS call drowns the supervisor's output

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        environ = self.make_environ()
        body = self._read_body(environ)
        if body is None:
            self.close_connection = True
            self._send(400, "Bad Request", [("Content-Type", "text/plain")], b"Bad body length.\n")
            return
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        started: list = []
        chunks: list[bytes] = []

        def start_response(status, headers, exc_info=None):
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [(status, headers)]
            return chunks.append  # the WSGI write(): kept with the rest until the answer is sent

        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            status, headers = started[0]
        except Exception:  # the application's answers are its own; a crash is still an answer
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            self._send(500, "Internal Server Error", [("Content-Type", "text/plain")], b"")
            return
        code, _, reason = status.partition(" ")
        self._send(int(code), reason, headers, b"".join(chunks))

    def _read_body(self, environ) -> bytes | None:
        """The whole request body, or None when its length is not one that can be read."""
        if environ.get("wsgi.input_terminated"):  # chunked: werkzeug's DechunkedInput reads it
            self.close_connection = True  # whatever is left of it stays out of the next request
            return environ["wsgi.input"].read(MAX_BODY)
        length = environ.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > MAX_BODY:
            return None
        body = self.rfile.read(int(length)) if int(length) else b""
        return body if len(body) == int(length) else None

    def _send(self, code: int, reason: str, headers, body: bytes) -> None:
        head = self.command == "HEAD"
        self.send_response(code, reason)
        for name, value in headers:
            lower = name.lower()
            if lower in ("connection", "transfer-encoding", "keep-alive"):
                continue
            if lower == "content-length" and not head:
                continue  # the length of what is really sent, below
            self.send_header(name, value)
        if not head and code not in NO_BODY_STATUSES and not 100 <= code < 200:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and not head and code not in NO_BODY_STATUSES:
            self.wfile.write(body)
        self.wfile.flush()


def serve(app, host: str, port: int, *, after_bind: Callable[[], None]) -> None:
    server = make_server(host, port, app, threaded=True, request_handler=_KeepAliveHandler)
    after_bind()  # e.g. refuse outbound connections: the listening socket was the last needed
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"sandbox server listening on http://{host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

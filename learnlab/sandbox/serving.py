"""How the sandbox server's WSGI application is served over HTTP (``server.main`` calls ``serve``).

Kept apart from the application so that the HTTP server can change without touching moto's wrapping.
"""

import signal
import threading
from collections.abc import Callable

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import make_server


class _QuietHandler(MotoRequestHandler):
    # werkzeug's server sends "Connection: close" after every response whatever the protocol
    # version (werkzeug 3.1.9, serving.py), so each AWS call costs a TCP connect and a thread
    # (about 5 % of a web worker's time under a class). Keep-alive needs another WSGI server.

    def log_request(self, code="-", size="-"):
        pass  # one line per AWS call drowns the supervisor's output


def serve(app, host: str, port: int, *, after_bind: Callable[[], None]) -> None:
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    after_bind()  # e.g. refuse outbound connections: the listening socket was the last needed
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"sandbox server listening on http://{host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

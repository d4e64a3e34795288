"""Pages that say "try again" rather than fail: a database that is locked or not answering is a
503, a throttled request (learnlab/lib/throttle.py) a 429, never a 500."""

import logging

from django.db import OperationalError
from django.shortcuts import render

from learnlab.lib.throttle import Throttled

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 2
BUSY = (
    "LearnLab's database is busy right now, so this request was not carried out and nothing "
    "from it was saved. Try again in a moment."
)


def notice(request, template: str, message: str, *, status: int, retry_after: int):
    """A page saying why a request was refused and when to try again; for htmx, only the
    template's ``notice`` fragment, swapped in where the request came from."""
    if request.headers.get("HX-Request"):
        template += "#notice"
    response = render(request, template, {"message": message}, status=status)
    response["Retry-After"] = str(retry_after)
    return response


class DatabaseBusyMiddleware:
    """SQLite's busy timeout (20 s) and PostgreSQL's lock waits retry first; what outlasts them
    gets a 503 that says what happened, with ``Retry-After``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError):
            return None
        log.warning("database busy on %s %s: %s", request.method, request.path, exception)
        return notice(request, "site/busy.html", BUSY, status=503, retry_after=RETRY_AFTER_SECONDS)


class ThrottledMiddleware:
    """A view refused by a throttle gets a 429 page with the wait, and ``Retry-After``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, Throttled):
            return None
        log.warning("throttled %s %s: %s", request.method, request.path, exception.message)
        return notice(
            request,
            "site/throttled.html",
            exception.message,
            status=429,
            retry_after=exception.retry_after,
        )

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
        template = (
            "site/busy.html#notice" if request.headers.get("HX-Request") else "site/busy.html"
        )
        response = render(request, template, {"message": BUSY}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


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
        template = (
            "site/throttled.html#notice"
            if request.headers.get("HX-Request")
            else "site/throttled.html"
        )
        response = render(request, template, {"message": exception.message}, status=429)
        response["Retry-After"] = str(exception.retry_after)
        return response

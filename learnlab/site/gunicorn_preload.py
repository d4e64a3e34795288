"""gunicorn's settings for the web server ``runstack`` starts (``--config
python:learnlab.site.gunicorn_preload``): the master imports what every worker would import
on its first requests, so the workers share those pages instead of each holding its own copy.

The master already sets Django up (the worker class is ``learnlab.site.web.Worker``, whose
module imports the application). What a worker imported on its first requests was the rest:
every view module through the URLconf (13 MiB), the lab catalog with the botocore models its
labs' calls are checked against (27 MiB), IAM's model for the gate's name checks (4 MiB), on a
Django process of 75 MiB (one measurement, bench/memory.py has the stack's). Imported in the
master, before the workers are forked, the pages are shared copy-on-write; ``gc.freeze`` keeps
the collector in each worker from writing to (and so copying) every page of those objects.
Nothing here starts a thread or opens a connection: the live dispatcher starts in each worker's
own event loop on its first wait (learnlab/live/waiting.py), database connections on a
worker's first query.
"""

import gc
import logging

from learnlab.site import web  # noqa: F401 - sets Django up (learnlab/wsgi.py), as the worker class does

# isort: split
from django.db import connections
from django.urls import get_resolver

from learnlab.gate import fidelity
from learnlab.labs.catalog import labs_all

log = logging.getLogger(__name__)


def when_ready(_server) -> None:
    """Called in the master once it listens, before it forks any worker."""
    try:
        get_resolver().url_patterns  # noqa: B018 - imports every view module
        labs_all()  # a file that does not load is logged and left out, as in a worker
        fidelity.check_iam_names("CreateRole", {})  # loads IAM's model, checks nothing
    except Exception:  # each worker loads it again on first use and says what is wrong there
        log.exception("the web master could not load the views and labs ahead of its workers")
    connections.close_all()  # none should be open: a forked worker must never share one
    gc.collect()
    gc.freeze()

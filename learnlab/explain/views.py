from django.http import HttpResponse
from learnlab.denials import selectors  # noqa: F401 - the trace page reads them


def denial(request, slug):
    return HttpResponse("")


def instance_chain(request, instance_id):
    return HttpResponse("")


def error(request, code):
    return HttpResponse("")

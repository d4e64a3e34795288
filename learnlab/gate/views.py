"""The AWS gate over HTTP: a learner's own AWS CLI or SDK sends SigV4 requests to ``/aws/``."""

from urllib.parse import quote, urlsplit

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from learnlab.gate import errors
from learnlab.gate.errors import AwsError, protocol_for
from learnlab.gate.services import GateRequest, gate_handle
from learnlab.gate.signing import parse_authorization


def _raw_path(request) -> str:
    """The path as the client encoded (and signed) it."""
    raw_uri = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    return urlsplit(raw_uri).path if raw_uri else quote(request.path, safe="/~")


def _refusal(request) -> AwsError | None:
    """What the view refuses before reading the body: plain HTTP in secure mode (keys and
    session tokens must not cross the network in clear), and bodies over the gate's cap."""
    if settings.SECURE_MODE and not request.is_secure():
        return errors.insecure_transport()
    if int(request.META.get("CONTENT_LENGTH") or 0) > settings.LEARNLAB_GATE_MAX_BODY:
        return AwsError(
            "EntityTooLarge", "Requests to a LearnLab sandbox are limited to 5 MiB.", 400
        )
    return None


@csrf_exempt  # authenticated by SigV4, not by cookies
def aws(request):
    headers = {name.lower(): value for name, value in request.headers.items()}
    if refusal := _refusal(request):
        auth = parse_authorization(headers.get("authorization"))
        rendered = refusal.render(protocol_for(auth.service if auth else "s3", headers))
    else:
        rendered = gate_handle(
            GateRequest(
                method=request.method,
                raw_path=_raw_path(request),
                query=request.META.get("QUERY_STRING", ""),
                headers=headers,
                body=request.body,
            )
        )
    response = HttpResponse(rendered.body, status=rendered.status)
    for name, value in rendered.headers.items():
        response[name] = value
    return response

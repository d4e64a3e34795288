"""The AWS gate over HTTP: a learner's own AWS CLI or SDK sends SigV4 requests to ``/aws/``."""

from urllib.parse import quote, urlsplit

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from learnlab.gate import limits
from learnlab.gate.services import GateRequest, gate_handle
from learnlab.gate.signing import parse_authorization
from learnlab.lib import aws_errors
from learnlab.lib.aws_errors import AwsError, protocol_for


def _raw_path(request) -> str:
    """The path as the client encoded (and signed) it."""
    raw_uri = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    return urlsplit(raw_uri).path if raw_uri else quote(request.path, safe="/~")


def _refusal(request, protocol: str) -> AwsError | None:
    """What the view refuses before reading the body: plain HTTP in secure mode (keys and
    session tokens must not cross the network in clear), and bodies over the protocol's cap
    (``limits.max_body``; ``gate_handle`` checks the bodies of in-process calls itself)."""
    if settings.SECURE_MODE and not request.is_secure():
        return aws_errors.insecure_transport()
    try:
        limits.check_body_size(int(request.META.get("CONTENT_LENGTH") or 0), protocol)
    except AwsError as refused:
        return refused
    return None


@csrf_exempt  # authenticated by SigV4, not by cookies
def aws(request):
    headers = {name.lower(): value for name, value in request.headers.items()}
    auth = parse_authorization(headers.get("authorization"))
    protocol = protocol_for(auth.service if auth else "s3", headers)
    if refusal := _refusal(request, protocol):
        rendered = refusal.render(protocol)
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

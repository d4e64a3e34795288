from django.http import Http404, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from learnlab.imds.metadata import respond
from learnlab.imds.models import MetadataEndpoint


@csrf_exempt  # PUT /latest/api/token comes from curl and SDKs, not from our forms
def metadata(request, token, path=""):
    """One lab instance's metadata service, at its unguessable URL."""
    endpoint = MetadataEndpoint.objects.select_related("sandbox").filter(token=token).first()
    if endpoint is None:
        raise Http404("No metadata service here")
    answer = respond(
        endpoint,
        method=request.method,
        path=path or "/",
        headers={name.lower(): value for name, value in request.headers.items()},
    )
    response = HttpResponse(
        "" if request.method == "HEAD" else answer.body,
        status=answer.status,
        content_type=answer.content_type,
    )
    for name, value in answer.headers.items():
        response[name] = value
    return response

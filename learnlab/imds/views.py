from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from learnlab.imds.credentials import credentials_show
from learnlab.imds.metadata import respond
from learnlab.imds.models import MetadataEndpoint
from learnlab.imds.selectors import cached_credentials_demo, credentials_panel
from learnlab.imds.services import InstanceNotFound, endpoint_for
from learnlab.learners.selectors import learner_from_request
from learnlab.sandbox.services import sandbox_for_learner

DEMO_SESSION_KEY = "cached-credentials-demo"


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
        "" if request.method == "HEAD" else (answer.body if answer.raw is None else answer.raw),
        status=answer.status,
        content_type=answer.content_type,
    )
    for name, value in answer.headers.items():
        response[name] = value
    return response


def _instance_context(request, instance_id: str) -> dict:
    sandbox = sandbox_for_learner(learner=learner_from_request(request, create=True))
    try:
        endpoint = endpoint_for(sandbox=sandbox, instance_id=instance_id)
    except InstanceNotFound as error:
        raise Http404(str(error)) from error
    panel = credentials_panel(sandbox=sandbox, instance_id=instance_id, now=timezone.now())
    if panel["current"] is not None and not credentials_show(credentials=panel["current"]):
        # Withdrawn by the ticker as we read it (superseded, never handed out): its successor.
        panel = credentials_panel(sandbox=sandbox, instance_id=instance_id, now=timezone.now())
        if panel["current"] is not None:
            credentials_show(credentials=panel["current"])
    return {
        "section": "sandbox",
        "sandbox": sandbox,
        "instance_id": instance_id,
        "imds_url": request.build_absolute_uri(f"/imds/{endpoint.token}/"),
        "paused": request.GET.get("paused") == "1",
        "demo": cached_credentials_demo(
            sandbox=sandbox,
            cached_key_id=request.session.get(f"{DEMO_SESSION_KEY}:{instance_id}"),
            current=panel["current"],
            renewal=panel["renewal"],
        ),
        **panel,
    }


@require_GET
@never_cache  # the instance's credentials and its metadata URL's token
def instance_detail(request, instance_id):
    """An instance's credentials, live: countdown, rotation timeline, worker status."""
    return render(request, "imds/instance.html", _instance_context(request, instance_id))


@require_POST
def instance_demo(request, instance_id):
    """Start (or stop) the cached-credentials demo: remember the set served right now."""
    context = _instance_context(request, instance_id)
    key = f"{DEMO_SESSION_KEY}:{instance_id}"
    servable = context["current"] is not None and context["renewal"].served
    if request.POST.get("action") == "stop" or not servable:
        request.session.pop(key, None)
    else:
        request.session[key] = context["current"].access_key.access_key_id
    return redirect("imds:instance", instance_id=instance_id)


@require_GET
@never_cache  # the instance's credentials and its metadata URL's token
def instance_credentials(request, instance_id):
    """The live panel alone, polled every second by htmx (not while paused)."""
    return render(request, "imds/instance.html#panel", _instance_context(request, instance_id))

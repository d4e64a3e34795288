"""The embed views: a lab (or one of its steps) for another site's iframe, with no site chrome.

Framing is allowed per response, for one origin: a host listed in LEARNLAB_EMBED_ORIGINS (or an
LTI platform, through a token the LTI app mints); every other page keeps ``frame-ancestors
'none'`` and ``X-Frame-Options: DENY``. The learner comes from the launch token in the address
or the ``X-LearnLab-Embed`` header, never from a cookie (an iframe's cookies are third-party).
"""

import posixpath
from urllib.parse import urlencode, urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from learnlab.embed.relay import (
    EMBEDDABLE,
    FRESH_HEADER,
    REFUSED_HEADER,
    act_as_launch,
    relay_answer_seal,
    same_origin,
)
from learnlab.embed.services import embed_events, lab_complete
from learnlab.embed.tokens import (
    HEADER,
    PARAM,
    EmbedLaunch,
    EmbedTokenError,
    embed_token_mint,
    embed_token_read,
    listed_origins,
    origin_normalize,
)
from learnlab.labs.catalog import Lab, lab_get, labs_all
from learnlab.labs.checks import SandboxView
from learnlab.labs.console import FORMS
from learnlab.labs.guided import step_values
from learnlab.labs.selectors import lab_facts, lab_progress
from learnlab.labs.services import CHECK_UNAVAILABLE, step_check
from learnlab.labs.views import ClosedForm
from learnlab.learners.selectors import learner_from_request
from learnlab.sandbox import connection
from learnlab.sandbox.services import sandbox_for_learner
from learnlab.terminal.selectors import terminal_context
from learnlab.terminal.services import shell_open

SANDBOX_ERRORS = (*connection.SANDBOX_ERRORS, ClientError, BotoCoreError)


def _framable_by(response, host: str | None):
    """Let ``host`` (one origin) frame this response; None: nobody (the site's default)."""
    if host:
        response._csp_config = {**settings.SECURE_CSP, "frame-ancestors": [host]}
        response.xframe_options_exempt = True
    return response


def _refused(request, message: str, *, host: str | None = None, status: int = 403):
    response = render(request, "embed/refused.html", {"message": message}, status=status)
    return _framable_by(response, host)


def _lab_or_404(slug: str) -> Lab:
    lab = lab_get(slug)
    if lab is None:
        raise Http404("No such lab")
    return lab


def _launch(request) -> EmbedLaunch | tuple[str, int]:
    """The launch this page load carries: its token, else a new one for a listed ``host``
    (when neither, the refusal's message and status)."""
    token = request.GET.get(PARAM, "")
    if token:
        return embed_token_read(token)
    host = origin_normalize(request.GET.get("host", ""))
    if host is None:
        return (
            "An embedded lab needs its host page's origin: add ?host=https://your.site to the "
            "iframe's address (docs/embedding.md shows the snippet).",
            400,
        )
    if host not in listed_origins():
        return (
            f"{host} may not embed LearnLab: its operator lists the sites that may "
            "(LEARNLAB_EMBED_ORIGINS).",
            403,
        )
    learner = learner_from_request(request, create=True)
    return EmbedLaunch(learner=learner, host=host, source="embed")


@require_GET
def embed_lab(request, slug, step=None):
    lab = _lab_or_404(slug)
    shown = lab.steps
    if step is not None:
        found = lab.step(step)
        if found is None:
            raise Http404("No such step")
        shown = (found,)
    try:
        launch = _launch(request)
    except EmbedTokenError as error:
        return _refused(request, error.message, host=error.host)
    if isinstance(launch, tuple):
        return _refused(request, launch[0], status=launch[1])
    learner = launch.learner
    token = embed_token_mint(learner=learner, host=launch.host, source=launch.source)
    progress, current = lab_progress(learner=learner, lab=lab)
    context = {
        "lab": lab,
        "host": launch.host,
        "token": token,
        "token_header": HEADER,
        "address": request.path + "?" + urlencode({PARAM: token}),
        "progress": [p for p in progress if p.step in shown],
        "single_step": step is not None,
        "gate_url": request.build_absolute_uri("/aws"),
        "current": current,
        "relay": reverse("embed:relay", args=["-"])[:-1],
        "embedded": True,
    }
    view = None
    try:
        sandbox = sandbox_for_learner(learner=learner)
        key = sandbox.lab_key()
        values = step_values(sandbox=sandbox)
        context["keys"] = {"id": key.access_key_id, "secret": key.secret_access_key}
        context["terminal"] = terminal_context(shell=shell_open(sandbox=sandbox))
        view = SandboxView(sandbox)
        context["facts"] = lab_facts(view=view, lab=lab)
    except SANDBOX_ERRORS:
        values = step_values(sandbox=None)
        context["terminal"] = terminal_context(shell=None)
        context["error"] = connection.RECONNECTING
        view = None
    context["sections"] = [
        {
            "progress": p,
            "text": p.step.text(values),
            "check": _check_url(lab, p.step),
            "forms": _forms(p.step, view, first_open=p.step == current) if view else [],
        }
        for p in context["progress"]
    ]
    # An instance's live credentials panel (the lab page's, imds/instance.html#panel), for
    # the steps done on the instance (read its metadata, watch the credentials rotate).
    instance = context.get("facts", {}).get("instance")
    if instance and any(p.step.host == "instance" for p in context["progress"]):
        context["credentials_url"] = reverse("imds:credentials", args=[instance])
    return _framable_by(render(request, "embed/lab.html", context), launch.host)


def _forms(step, view, *, first_open: bool) -> list:
    """A step's console forms as the lab page shows them: the current step's first built now,
    the others closed, their fields fetched when opened (labs/views.py's ``_sections``)."""
    forms = []
    for i, name in enumerate(step.forms):
        form_class = FORMS[name]
        if i == 0 and first_open:
            forms.append(form_class(view=view))
        else:
            forms.append(
                ClosedForm(form_class.name, form_class.title, form_class.intro, form_class.submit)
            )
    return forms


def _check_url(lab, step) -> str:
    return reverse("embed:check", args=[lab.slug, step.slug])


# The token is the credential, sent in a header (or a form field) that another site cannot
# make the browser add: no cookie is involved, so Django's cookie-based CSRF check has nothing
# to protect, and it is replaced by requiring the token and our own Origin.
@csrf_exempt
@require_POST
def embed_check(request, slug, step):
    lab = _lab_or_404(slug)
    found = lab.step(step)
    if found is None:
        raise Http404("No such step")
    if not same_origin(request):
        return JsonResponse({"error": "Checks come from the embedded page only."}, status=403)
    try:
        launch = embed_token_read(request.headers.get(HEADER) or request.POST.get("token", ""))
    except EmbedTokenError as error:
        return JsonResponse({"error": error.message}, status=403)
    learner = launch.learner
    token = embed_token_mint(learner=learner, host=launch.host, source=launch.source)
    try:
        was_complete = lab_complete(learner=learner, lab=lab)
        result = step_check(
            learner=learner, sandbox=sandbox_for_learner(learner=learner), lab=lab, step=found
        )
    except SANDBOX_ERRORS:
        return JsonResponse({"error": CHECK_UNAVAILABLE, "token": token}, status=503)
    return JsonResponse(
        {
            "lab": lab.slug,
            "step": found.slug,
            "passed": result.passed,
            "message": result.message,
            "warning": result.warning,
            "events": embed_events(
                learner=learner, lab=lab, step=found, result=result, was_complete=was_complete
            ),
            "token": token,
        }
    )


def _relay_refused(message: str, status: int = 403) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    response[REFUSED_HEADER] = "1"
    return response


# The relay (embed/relay.py): the embedded page's requests to the lab page's own views (the
# terminal, console forms, progress, an instance's credentials panel), authenticated by the
# launch token in the header. As for Check, the header token and our own Origin replace the
# cookie-based CSRF check, here only: every view it reaches is in EMBEDDABLE.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def embed_relay(request, rest):
    try:
        match = resolve("/" + rest)
    except Resolver404:
        return _relay_refused("There is no such page in LearnLab.", status=404)
    if match.view_name not in EMBEDDABLE:
        return _relay_refused(
            "This part of LearnLab does not open inside an embedded lab. Open the lab on "
            "LearnLab itself (the link at the top of the frame) to use it."
        )
    if not same_origin(request):
        return _relay_refused("Requests with a launch token come from the embedded page only.")
    try:
        launch = embed_token_read(request.headers.get(HEADER, ""))
    except EmbedTokenError as error:
        return _relay_refused(error.message)
    act_as_launch(request, launch)
    response = match.func(request, *match.args, **match.kwargs)
    if 300 <= response.status_code < 400 and not _inside_embed(response.get("Location", "")):
        response = _relay_refused(
            "This action would take the embedded lab to another page of LearnLab. Open the lab "
            "on LearnLab itself (the link at the top of the frame) to continue there.",
            status=409,
        )
    response[FRESH_HEADER] = embed_token_mint(
        learner=launch.learner, host=launch.host, source=launch.source
    )
    relay_answer_seal(request, response)
    return response


def _inside_embed(location: str) -> bool:
    """Whether a redirect's Location stays on LearnLab's /embed/ pages."""
    parts = urlsplit(location)
    path = posixpath.normpath(parts.path) + "/" if parts.path else ""
    return not parts.scheme and not parts.netloc and path.startswith("/embed/")


def _tool_origin(request) -> str:
    """The demo host page embeds LearnLab from the other name of this machine (localhost and
    127.0.0.1 are different origins to a browser), so the demo really crosses origins."""
    host = request.get_host()
    name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    other = "127.0.0.1" if name == "localhost" else "localhost"
    return f"{request.scheme}://{other}" + (f":{port}" if port else "")


@require_GET
def demo_host(request):
    """A stand-in for a tutorial author's page: it embeds a step (``?step=``, or with
    ``?whole=1`` the whole lab) from the other origin and lists the events it receives. Open it
    at http://localhost:PORT/embed/demo-host."""
    tool = origin_normalize(request.GET.get("tool", "")) or _tool_origin(request)
    lab = lab_get(request.GET.get("lab", "instance-role")) or next(iter(labs_all().values()), None)
    if lab is None:
        raise Http404("No lab to embed")
    whole = request.GET.get("whole") == "1"  # the whole lab, not one step
    step = None if whole else (lab.step(request.GET.get("step", "")) or lab.steps[0])
    me = origin_normalize(request.build_absolute_uri("/"))
    path = (
        reverse("embed:lab", args=[lab.slug])
        if whole
        else reverse("embed:step", args=[lab.slug, step.slug])
    )
    src = f"{tool}{path}?" + urlencode({"host": me})
    response = render(
        request,
        "embed/demo_host.html",
        {
            "src": src,
            "tool": tool,
            "me": me,
            "lab": lab,
            "step": step,
            "listed": me in listed_origins(),
        },
    )
    response._csp_config = {**settings.SECURE_CSP, "frame-src": [tool]}
    return response

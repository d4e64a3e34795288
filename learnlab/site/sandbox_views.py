"""The "Your sandbox" page: keys, instances and the clock, from several apps, so above them."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from learnlab.gate.parsing import GATE_PREFIX
from learnlab.imds.services import InstanceNotFound, instance_env_lines
from learnlab.learners.selectors import learner_from_request
from learnlab.lib.urls import safe_next
from learnlab.sandbox import connection
from learnlab.sandbox.selectors import sandbox_env_lines
from learnlab.sandbox.services import (
    ClockSpeedError,
    sandbox_for_learner,
    sandbox_reset,
    sandbox_set_clock_speed,
)
from learnlab.site.selectors import sandbox_instances


def _gate_url(request) -> str:
    return request.build_absolute_uri(GATE_PREFIX)


@require_GET
@never_cache  # shows the learner's keys: no cache may keep a copy
def detail(request):
    """The page renders at once; the panel provisions the sandbox through htmx."""
    return render(request, "site/sandbox.html", {"section": "sandbox"})


@require_GET
@never_cache  # shows the learner's keys: no cache may keep a copy
def panel(request):
    context = {"section": "sandbox", "env_url": request.build_absolute_uri(reverse("sandbox:env"))}
    try:
        sandbox = sandbox_for_learner(learner=learner_from_request(request, create=True))
    except connection.SANDBOX_ERRORS:
        context["error"] = connection.RECONNECTING
    else:
        context["sandbox"] = sandbox
        context["instances"] = sandbox_instances(sandbox=sandbox)
        context["env_text"] = "\n".join(
            sandbox_env_lines(sandbox=sandbox, gate_url=_gate_url(request))
        )
    return render(request, "site/sandbox.html#panel", context)


@require_POST
def reset(request):
    learner = learner_from_request(request, create=True)
    try:
        sandbox_reset(sandbox=sandbox_for_learner(learner=learner))
    except connection.SANDBOX_ERRORS:
        messages.error(request, connection.RECONNECTING)
    else:
        messages.success(request, "Your sandbox is empty again, with new keys: use the ones below.")
    return redirect("sandbox:detail")


@require_POST
def clock(request):
    """Set this learner's lab clock speed, then go back to the page they came from."""
    target = safe_next(request, reverse("sandbox:detail"))
    try:
        speed = int(request.POST.get("speed", ""))
        sandbox = sandbox_for_learner(learner=learner_from_request(request, create=True))
        sandbox_set_clock_speed(sandbox=sandbox, speed=speed)
    except ValueError as error:  # not a number, or out of range
        messages.error(
            request, str(error) if isinstance(error, ClockSpeedError) else "Choose a speed."
        )
    except connection.SANDBOX_ERRORS:
        messages.error(request, connection.RECONNECTING)
    else:
        messages.success(request, f"The lab clock now runs at {speed}x real time.")
    return redirect(target)


@require_GET
@never_cache  # shows the learner's keys: no cache may keep a copy
def env(request):
    """``export`` lines for a shell: the learner's own terminal pointed at their sandbox, or with
    ``?instance=i-…``, a shell on that instance: no keys, only its metadata service."""
    gate_url = request.build_absolute_uri(GATE_PREFIX)
    try:
        sandbox = sandbox_for_learner(learner=learner_from_request(request, create=True))
        instance_id = request.GET.get("instance")
        if instance_id is None:
            lines = sandbox_env_lines(sandbox=sandbox, gate_url=gate_url)
        else:
            lines = instance_env_lines(
                sandbox=sandbox,
                instance_id=instance_id,
                gate_url=gate_url,
                imds_base=request.build_absolute_uri("/imds/"),
            )
    except InstanceNotFound as error:
        return HttpResponse(f"# {error}\n", status=404, content_type="text/plain")
    except connection.SANDBOX_ERRORS:
        return HttpResponse(f"# {connection.RECONNECTING}\n", status=503, content_type="text/plain")
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")

"""The "Your sandbox" page: keys, instances and the clock, from several apps, so above them."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from learnlab.gate.parsing import GATE_PREFIX
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
    context = {"section": "sandbox", "env_url": request.build_absolute_uri(reverse("imds:env"))}
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

"""The "Your sandbox" page: keys, instances and the clock, from several apps, so above them;
and ``/sandbox/env``, the lines that bring a shell of the learner's own into their sandbox."""

import shlex

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from learnlab.classroom.selectors import classroom_for_learner
from learnlab.gate.parsing import GATE_PREFIX
from learnlab.imds.services import InstanceNotFound, instance_env_lines
from learnlab.learners.selectors import learner_from_request
from learnlab.learners.shell_token import (
    learner_from_shell_token,
    shell_token_create,
    shell_token_revoke,
)
from learnlab.lib.throttle import client_address, minutes, throttle_count, throttle_wait
from learnlab.lib.urls import safe_next
from learnlab.sandbox import connection
from learnlab.sandbox.models import AccessKey
from learnlab.sandbox.selectors import sandbox_env_lines
from learnlab.sandbox.services import (
    ClockSpeedError,
    sandbox_for_learner,
    sandbox_reset,
    sandbox_set_clock_speed,
)
from learnlab.site.selectors import sandbox_instances

# A sandbox that cannot be used this moment: its server is down or refused, or it has no lab
# key (it cannot be rebuilt or shown until it has one): the page says Reconnecting and retries.
NOT_READY = (*connection.SANDBOX_ERRORS, AccessKey.DoesNotExist)
ENV_RECONNECTING = (
    "your sandbox is reconnecting (its sandbox server is restarting; nothing you built is "
    "lost); run this again in a few seconds."
)


def _gate_url(request) -> str:
    return request.build_absolute_uri(GATE_PREFIX)


@require_GET
@never_cache  # shows the learner's keys: no cache may keep a copy
def detail(request):
    """The page renders at once; the panel provisions the sandbox through htmx."""
    return render(request, "site/sandbox.html", {"section": "sandbox"})


def _panel_context(request, *, token: str = "") -> dict:
    env_url = request.build_absolute_uri(reverse("sandbox:env"))
    context = {"section": "sandbox", "env_url": env_url}
    try:
        learner = learner_from_request(request, create=True)
        sandbox = sandbox_for_learner(learner=learner)
        env_text = "\n".join(sandbox_env_lines(sandbox=sandbox, gate_url=_gate_url(request)))
    except NOT_READY:
        context["error"] = connection.RECONNECTING
    else:
        context["sandbox"] = sandbox
        context["learner"] = learner
        context["instances"] = sandbox_instances(sandbox=sandbox)
        context["env_text"] = env_text
        if token:
            context["token_url"] = f"{env_url}?token={token}"
    return context


@require_GET
@never_cache  # shows the learner's keys: no cache may keep a copy
def panel(request):
    return render(request, "site/sandbox.html#panel", _panel_context(request))


@require_POST
@never_cache  # the response shows the new token, once
def token(request):
    """Make the learner's personal terminal URL (revoking the one before), or with
    ``revoke``, only revoke it. The new URL is in this response and nowhere else."""
    learner = learner_from_request(request, create=True)
    new_token = ""
    if request.POST.get("action") == "revoke":
        shell_token_revoke(learner=learner)
    else:
        new_token = shell_token_create(learner=learner)
    context = _panel_context(request, token=new_token)
    context["token_message"] = (
        "Your personal terminal line is below: copy it now, it is shown only this once."
        if new_token
        else "Revoked: the old terminal URL no longer works."
    )
    if request.htmx:
        return render(request, "site/sandbox.html#panel", context)
    return render(request, "site/sandbox.html", context)


@require_POST
def reset(request):
    learner = learner_from_request(request, create=True)
    try:
        sandbox_reset(sandbox=sandbox_for_learner(learner=learner))
    except NOT_READY:
        messages.error(request, connection.RECONNECTING)
    else:
        messages.success(request, "Your sandbox is empty again, with new keys: use the ones below.")
    return redirect("sandbox:detail")


@require_POST
def clock(request):
    """Set this learner's lab clock speed, then go back to the page they came from."""
    target = safe_next(request, reverse("sandbox:detail"))
    learner = learner_from_request(request, create=True)
    if classroom_for_learner(learner=learner) is not None:
        messages.error(request, "Your instructor sets this class's lab clock.")
        return redirect(target)
    try:
        speed = int(request.POST.get("speed", ""))
        sandbox = sandbox_for_learner(learner=learner)
        sandbox_set_clock_speed(sandbox=sandbox, speed=speed)
    except ValueError as error:  # not a number, or out of range
        messages.error(
            request, str(error) if isinstance(error, ClockSpeedError) else "Choose a speed."
        )
    except NOT_READY:
        messages.error(request, connection.RECONNECTING)
    else:
        messages.success(request, f"The lab clock now runs at {speed}x real time.")
    return redirect(target)


def _shell_text(message: str, *, status: int, retry_after: int = 0) -> HttpResponse:
    """A refusal a shell shows whether it prints or ``eval``s it: one ``echo`` to stderr, then
    ``false``, so ``eval "$(curl ...)" && ...`` stops there. ASCII, as every /sandbox/env line."""
    response = HttpResponse(
        f"echo {shlex.quote('LearnLab: ' + message)} >&2; false\n",
        status=status,
        content_type="text/plain; charset=utf-8",
    )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def _env_learner(request):
    """The learner ``/sandbox/env`` speaks for (by ``?token=``, else by the browser's session,
    never a new one), or the refusal to answer."""
    page = request.build_absolute_uri(reverse("sandbox:detail"))
    token = request.GET.get("token")
    if token is None:
        learner = learner_from_request(request, create=False)
        if learner is None:
            return None, _shell_text(
                "this request carries no cookie and no token, so it cannot say whose sandbox "
                f"it is for. Open {page} in your browser, make your personal terminal line "
                "there and run it: it has ?token=... in it.",
                status=403,
            )
        return learner, None
    address = client_address(request)
    wait = throttle_wait(
        "shell-token", address, limit=settings.LEARNLAB_SHELL_TOKEN_FAILURES_PER_CLIENT
    )
    if wait:
        return None, _shell_text(
            f"too many wrong terminal tokens from your address. Try again in {minutes(wait)}.",
            status=429,
            retry_after=wait,
        )
    learner = learner_from_shell_token(token)
    if learner is None:
        throttle_count("shell-token", address)
        return None, _shell_text(
            "this terminal URL is not valid: it was revoked, replaced by a newer one, or "
            f"mistyped. Make a new one on {page} (Revoke and make a new one).",
            status=403,
        )
    wait = throttle_wait(
        "shell-token-use", learner.shell_token_hash, limit=settings.LEARNLAB_SHELL_TOKEN_USES
    )
    if wait:
        return None, _shell_text(
            f"this terminal URL was used too often. Try again in {minutes(wait)}.",
            status=429,
            retry_after=wait,
        )
    throttle_count("shell-token-use", learner.shell_token_hash)
    return learner, None


@require_GET
@never_cache  # shows the learner's keys: no cache may keep a copy
def env(request):
    """``export`` lines for a shell: the learner's own terminal pointed at their sandbox, or with
    ``?instance=i-…``, a shell on that instance: no keys, only its metadata service. Whose
    sandbox: ``?token=`` (the learner's personal terminal token), else the browser's session;
    a request with neither is refused, never given a new learner and sandbox."""
    learner, refusal = _env_learner(request)
    if refusal is not None:
        return refusal
    gate_url = request.build_absolute_uri(GATE_PREFIX)
    try:
        sandbox = sandbox_for_learner(learner=learner)
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
        return _shell_text(str(error), status=404)
    except NOT_READY:
        return _shell_text(ENV_RECONNECTING, status=503, retry_after=5)
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")

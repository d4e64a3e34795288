"""The explain pages: why was it denied, the instance chain debugger, explain this error.

Each shows only the visitor's own sandbox: another learner's denial or instance is a 404, the
same answer as one that does not exist. Nothing here creates a learner or a sandbox."""

import json

from botocore.exceptions import BotoCoreError, ClientError
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from learnlab.denials.selectors import denial_of_sandbox
from learnlab.explain import chain as chains
from learnlab.explain.errors import EXPLANATIONS, explanation_for
from learnlab.gate.client import aws_client
from learnlab.labs.catalog import lab_get
from learnlab.labs.models import StepResult
from learnlab.labs.selectors import lab_progress
from learnlab.learners.selectors import learner_from_request
from learnlab.sandbox import connection
from learnlab.sandbox.models import Sandbox


def _sandbox(request) -> Sandbox | None:
    learner = learner_from_request(request, create=False)
    if learner is None:
        return None
    return Sandbox.objects.filter(learner=learner).first()


def _pretty(statement) -> str:
    return json.dumps(statement, indent=2, sort_keys=False)


@require_GET
@never_cache
def denial(request, slug):
    """Why was it denied: one recorded denial of the visitor's own sandbox."""
    found = denial_of_sandbox(sandbox=_sandbox(request), slug=slug)
    if found is None:
        raise Http404("No such denial in your sandbox")
    trace = found.trace
    for policy in [*trace.get("policies", []), trace.get("boundary") or {"statements": []}]:
        for statement in policy.get("statements", []):
            statement["pretty"] = _pretty(statement.get("statement"))
    for statement in (trace.get("trust") or {}).get("statements", []):
        statement["pretty"] = _pretty(statement.get("statement"))
    context = [
        {"key": key, "values": ", ".join(map(str, values))}
        for key, values in sorted((trace.get("context") or {}).items())
    ]
    return render(
        request,
        "explain/denial.html",
        {
            "section": "sandbox",
            "denial": found,
            "trace": trace,
            "request_context": context,
            "explanation": explanation_for(found.code),
        },
    )


@require_GET
@never_cache
def instances(request):
    """The chain debugger's start: the sandbox's instances, each linked."""
    sandbox = _sandbox(request)
    listed, error = [], ""
    if sandbox is not None:
        try:
            pages = aws_client("ec2", sandbox=sandbox).get_paginator("describe_instances")
            for page in pages.paginate():
                for reservation in page["Reservations"]:
                    listed += [
                        {"id": i["InstanceId"], "state": i["State"]["Name"]}
                        for i in reservation["Instances"]
                    ]
        except (ClientError, BotoCoreError) as failure:
            error = f"Your instances could not be listed just now ({failure}). Try again."
    return render(
        request,
        "explain/instances.html",
        {"section": "sandbox", "sandbox": sandbox, "instances": listed, "error": error},
    )


@require_GET
@never_cache
def instance_chain(request, instance_id):
    """Why can (or can't) this instance get credentials: every link, the first broken one."""
    sandbox = _sandbox(request)
    if sandbox is None or not chains.INSTANCE_ID.fullmatch(instance_id):
        raise Http404("No such instance in your sandbox")
    try:
        chain = chains.instance_chain(sandbox=sandbox, instance_id=instance_id)
    except connection.SANDBOX_ERRORS:
        return render(
            request,
            "site/error.html",
            {
                "heading": "The sandbox is not answering",
                "detail": "The chain could not be read just now. Try again in a few seconds.",
            },
            status=503,
        )
    if not chain.found:
        raise Http404("No such instance in your sandbox")
    return render(
        request,
        "explain/instance.html",
        {"section": "sandbox", "chain": chain, "broken": chain.broken},
    )


@require_GET
def error(request, code):
    """Explain this error, tied to the step the learner is on (``?lab=&step=``)."""
    explanation = explanation_for(code)
    if explanation is None:
        raise Http404("No explanation for this error code")
    lab = lab_get(request.GET.get("lab", "")) if request.GET.get("lab") else None
    step = lab.step(request.GET.get("step", "")) if lab else None
    if lab is None:  # the terminal's link names no step: the one the learner is on
        lab, step = _current_step(request)
    return render(
        request,
        "explain/error.html",
        {
            "section": "sandbox",
            "explanation": explanation,
            "lab": lab,
            "step": step,
            "on_its_step": bool(step and step.slug in explanation.steps),
            "others": sorted(EXPLANATIONS),
        },
    )


def _current_step(request):
    """The lab the learner last checked a step of, and the step to resume at there."""
    learner = learner_from_request(request, create=False)
    if learner is None:
        return None, None
    latest = StepResult.objects.filter(learner=learner).order_by("-checked_at").first()
    lab = lab_get(latest.lab) if latest else None
    if lab is None:
        return None, None
    return lab, lab_progress(learner=learner, lab=lab)[1]

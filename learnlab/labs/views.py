import json
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from learnlab.labs.catalog import Lab, lab_get, labs_all
from learnlab.labs.checks import SandboxView
from learnlab.labs.console import FORMS, CallFailed, Recorder
from learnlab.labs.diagrams import DIAGRAMS
from learnlab.labs.selectors import lab_facts, lab_progress
from learnlab.labs.services import CHECK_UNAVAILABLE, lab_reset, step_check
from learnlab.learners.selectors import learner_from_request
from learnlab.sandbox import connection
from learnlab.sandbox.services import sandbox_for_learner

# The sandbox server down or failing: directly, or as the gate's AWS error to a form's reads.
SANDBOX_ERRORS = (*connection.SANDBOX_ERRORS, ClientError, BotoCoreError)


def _lab_or_404(slug: str) -> Lab:
    lab = lab_get(slug)
    if lab is None:
        raise Http404("No such lab")
    return lab


def _changed(response, source: str, what: str = "sandbox"):
    """Tell the page what changed: the sandbox (the diagram, progress and form choices refresh)
    or only the progress (after a Check, which reads the sandbox but changes nothing in it)."""
    response["HX-Trigger"] = json.dumps({"lab-changed": {"source": source, "what": what}})
    return response


@require_GET
def index(request):
    labs = labs_all()
    if len(labs) == 1:
        return redirect("labs:detail", slug=next(iter(labs)))
    return render(request, "labs/index.html", {"section": "lab", "labs": labs.values()})


@dataclass(frozen=True)
class ClosedForm:
    """A console form shown closed: its title now, its fields (and the sandbox reads behind
    their choices) fetched when the learner opens it."""

    name: str
    title: str
    intro: str
    submit: str
    lazy: bool = True


def _sections(progress: list, view: SandboxView | None, current) -> list[dict]:
    """Each step with its console forms (none when the sandbox cannot be read); only the form
    that starts open (the current step's first) is built now."""

    def form(name: str, first: bool, step):
        form_class = FORMS[name]
        if first and step == current:
            return form_class(view=view)
        return ClosedForm(form_class.name, form_class.title, form_class.intro, form_class.submit)

    return [
        {
            "progress": p,
            "forms": [form(name, i == 0, p.step) for i, name in enumerate(p.step.forms)]
            if view
            else [],
        }
        for p in progress
    ]


@require_GET
def detail(request, slug):
    lab = _lab_or_404(slug)
    learner = learner_from_request(request, create=True)
    progress, current = lab_progress(learner=learner, lab=lab)
    context = {
        "section": "lab",
        "lab": lab,
        "progress": progress,
        "current": current,
        "diagram_template": DIAGRAMS.get(lab.diagram),
    }
    try:
        view = SandboxView(sandbox_for_learner(learner=learner))
        view.roles  # noqa: B018 - the first read: the page shows "reconnecting" if it fails
        context |= {
            "sections": _sections(progress, view, current),
            "facts": lab_facts(view=view, lab=lab),
        }
    except SANDBOX_ERRORS:
        context |= {
            "sections": _sections(progress, None, current),
            "error": connection.RECONNECTING,
        }
    return render(request, "labs/lab.html", context)


@require_GET
def progress(request, slug):
    lab = _lab_or_404(slug)
    steps, current = lab_progress(learner=learner_from_request(request, create=False), lab=lab)
    return render(
        request, "labs/lab.html#progress", {"lab": lab, "progress": steps, "current": current}
    )


@require_GET
def diagram(request, slug):
    lab = _lab_or_404(slug)
    try:
        sandbox = sandbox_for_learner(learner=learner_from_request(request, create=True))
        facts = lab_facts(view=SandboxView(sandbox), lab=lab)
    except SANDBOX_ERRORS:
        facts = {}
    context = {"lab": lab, "facts": facts, "diagram_template": DIAGRAMS.get(lab.diagram)}
    return render(request, "labs/lab.html#diagram", context | {"diagram_error": not facts})


@require_POST
def check(request, slug, step):
    lab = _lab_or_404(slug)
    found = lab.step(step)
    if found is None:
        raise Http404("No such step")
    learner = learner_from_request(request, create=True)
    try:
        result = step_check(
            learner=learner, sandbox=sandbox_for_learner(learner=learner), lab=lab, step=found
        )
    except SANDBOX_ERRORS:
        result = None
    if not request.htmx:
        if result is None:
            messages.error(request, CHECK_UNAVAILABLE)
        return redirect(reverse("labs:detail", args=[lab.slug]) + f"#{found.anchor}")
    context = {"lab": lab, "step": found, "result": result}
    if result is None:
        context["check_error"] = CHECK_UNAVAILABLE  # nothing stored: the step keeps its state
    return _changed(render(request, "labs/_check_result.html", context), "check", "progress")


@require_http_methods(["GET", "POST"])
def console(request, slug, form):
    """GET: the form's fields with fresh choices. POST: make the calls and show them."""
    lab = _lab_or_404(slug)
    form_class = FORMS.get(form)
    if form_class is None or not any(form in step.forms for step in lab.steps):
        raise Http404("No such form in this lab")
    learner = learner_from_request(request, create=True)
    context = {"lab": lab, "open": True}
    try:
        view = SandboxView(sandbox_for_learner(learner=learner))
        if request.method == "GET":
            context["form"] = form_class(view=view)
            return render(request, "labs/lab.html#console-fields", context)
        bound = form_class(request.POST, view=view)
        recorder = Recorder(view)
        if bound.is_valid():
            try:
                context["done"] = bound.apply(recorder)
            except CallFailed as failure:
                bound.add_error(
                    failure.field if failure.field in bound.fields else None, failure.call.error
                )
        # After a success, a fresh form whose choices include what was just made.
        context["form"] = (
            form_class(view=SandboxView(view.sandbox)) if context.get("done") else bound
        )
        context["calls"] = recorder.calls
    except SANDBOX_ERRORS:
        # Said next to the form, which keeps what the learner typed (503: the page's refresh
        # of form choices skips it).
        response = render(
            request, "labs/lab.html#console-error", {"error": connection.RECONNECTING}, status=503
        )
        response["HX-Retarget"] = f"#console-{form}-status"
        response["HX-Reswap"] = "innerHTML"
        if not request.htmx:
            messages.error(request, connection.RECONNECTING)
            return redirect(reverse("labs:detail", args=[lab.slug]) + f"#console-{form}")
        return response
    changed = any(not call.error for call in recorder.calls)
    if not request.htmx:
        if context.get("done"):
            messages.success(request, context["done"])
        else:
            messages.error(request, "; ".join(e for errs in bound.errors.values() for e in errs))
        return redirect(reverse("labs:detail", args=[lab.slug]) + f"#console-{form}")
    response = render(request, "labs/lab.html#console-section", context)
    return _changed(response, form) if changed else response


@require_POST
def reset(request, slug):
    lab = _lab_or_404(slug)
    learner = learner_from_request(request, create=True)
    try:
        lab_reset(learner=learner, sandbox=sandbox_for_learner(learner=learner), lab=lab)
    except SANDBOX_ERRORS:
        messages.error(request, connection.RECONNECTING)
    else:
        messages.success(
            request, "Lab reset: your sandbox is empty and you are back at step 1. Your keys stay."
        )
    return redirect("labs:detail", slug=lab.slug)

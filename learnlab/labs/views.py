import json
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from learnlab.labs.catalog import EXAMPLE_FACTS, Lab, lab_get, lab_version, labs_all
from learnlab.labs.checks import SandboxView
from learnlab.labs.console import FORMS, CallFailed, Recorder
from learnlab.labs.diagrams import DIAGRAMS
from learnlab.labs.guided import lab_completion, step_values
from learnlab.labs.prepared import SetupFailed, lab_prepare, lab_start
from learnlab.labs.rewind import RewindRefused, lab_rewind
from learnlab.labs.selectors import lab_facts, lab_progress
from learnlab.labs.services import CHECK_UNAVAILABLE, lab_reset, step_check
from learnlab.learners.selectors import learner_from_request
from learnlab.sandbox import connection
from learnlab.sandbox.services import sandbox_for_learner

# The sandbox server down or failing: directly, or as the gate's AWS error to a form's reads, or
# an answer botocore cannot parse (ResponseParserError is not a BotoCoreError).
SANDBOX_ERRORS = (*connection.SANDBOX_ERRORS, ClientError, BotoCoreError, ResponseParserError)


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
    """Every lab with the learner's progress in it: steps passed, where to resume."""
    labs = labs_all()
    if len(labs) == 1:
        return redirect("labs:detail", slug=next(iter(labs)))
    learner = learner_from_request(request, create=False)
    rows = []
    for lab in labs.values():
        progress, current = lab_progress(learner=learner, lab=lab)
        passed = sum(1 for p in progress if p.passed)
        rows.append(
            {
                "lab": lab,
                "passed": passed,
                "total": len(progress),
                "current": current,
                "started": any(p.result for p in progress),
                "complete": passed == len(progress),
            }
        )
    return render(request, "labs/index.html", {"section": "lab", "rows": rows})


@dataclass(frozen=True)
class ClosedForm:
    """A console form shown closed: its title now, its fields (and the sandbox reads behind
    their choices) fetched when the learner opens it."""

    name: str
    title: str
    intro: str
    submit: str
    lazy: bool = True


def _examples(lab: Lab, facts: dict) -> str:
    """The snippets' example values and the learner's own (JSON, for Copy and Run in
    terminal); empty when the learner has none yet."""
    return json.dumps(
        {lab.examples[f]: facts[f] for f in EXAMPLE_FACTS if f in lab.examples and facts.get(f)}
    )


def _sections(
    lab: Lab, progress: list, view: SandboxView | None, current, values: dict
) -> list[dict]:
    """Each step with its console forms (none when the sandbox cannot be read) and its text
    for this learner; only the form that starts open (the current step's first) is built now."""

    def form(name: str, first: bool, step):
        form_class = FORMS[name]
        if first and step == current:
            return form_class(view=view)
        return ClosedForm(form_class.name, form_class.title, form_class.intro, form_class.submit)

    return [
        {
            "progress": p,
            "text": p.step.text(values),
            "next": lab.step_after(p.step),
            "forms": [form(name, i == 0, p.step) for i, name in enumerate(p.step.forms)]
            if view
            else [],
        }
        for p in progress
    ]


def _preview(request, lab: Lab):
    """``make dev`` only: the lab page polls this; when the lab's file changed since the page
    was made, htmx reloads the page (``HX-Refresh``), else nothing (204)."""
    if request.GET["preview"] == lab_version(lab.slug):
        return HttpResponse(status=204)
    response = HttpResponse(status=200)
    response["HX-Refresh"] = "true"
    return response


@require_GET
def detail(request, slug):
    lab = _lab_or_404(slug)
    if settings.DEBUG and "preview" in request.GET:
        return _preview(request, lab)
    learner = learner_from_request(request, create=True)
    progress, current = lab_progress(learner=learner, lab=lab)
    context = {
        "section": "lab",
        "lab": lab,
        "progress": progress,
        "current": current,
        "all_passed": all(p.passed for p in progress),
        "diagram_template": DIAGRAMS.get(lab.diagram),
        "preview_version": lab_version(lab.slug) if settings.DEBUG else "",
    }
    try:
        sandbox = sandbox_for_learner(learner=learner)
        lab_start(learner=learner, sandbox=sandbox, lab=lab)  # a break-fix lab's starting state
        values = step_values(sandbox=sandbox)
        view = SandboxView(sandbox)
        view.roles  # noqa: B018 - the first read: the page shows "reconnecting" if it fails
        facts = lab_facts(view=view, lab=lab)
        context |= {
            "sections": _sections(lab, progress, view, current, values),
            "facts": facts,
            "examples": _examples(lab, facts),
        }
    except SANDBOX_ERRORS:
        context |= {
            "sections": _sections(lab, progress, None, current, step_values(sandbox=None)),
            "error": connection.RECONNECTING,
            "examples": "{}",
        }
    return render(request, "labs/lab.html", context)


@require_GET
def complete(request, slug):
    """What the learner built, how long it took, what it taught and what to practise next;
    before the last step passes, what is left to do."""
    lab = _lab_or_404(slug)
    learner = learner_from_request(request, create=True)
    progress, current = lab_progress(learner=learner, lab=lab)
    context = {"section": "lab", "lab": lab, "progress": progress, "current": current}
    if all(p.passed for p in progress):
        try:
            context["completion"] = lab_completion(
                learner=learner, sandbox=sandbox_for_learner(learner=learner), lab=lab
            )
        except SANDBOX_ERRORS:
            context |= {"completion": lab_completion(learner=learner, sandbox=None, lab=lab)}
            context["error"] = connection.RECONNECTING
    return render(request, "labs/complete.html", context)


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
    context = {
        "lab": lab,
        "facts": facts,
        "examples": _examples(lab, facts),
        "diagram_template": DIAGRAMS.get(lab.diagram),
    }
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
    context = {"lab": lab, "step": found, "result": result, "next_step": lab.step_after(found)}
    if result is None:
        context["check_error"] = CHECK_UNAVAILABLE  # nothing stored: the step keeps its state
    return _changed(render(request, "labs/_guided_check.html", context), "check", "progress")


@require_http_methods(["GET", "POST"])
def console(request, slug, form):
    """GET: the form's fields with fresh choices. POST: make the calls and show them."""
    lab = _lab_or_404(slug)
    form_class = FORMS.get(form)
    if form_class is None or not any(form in step.forms for step in lab.steps):
        raise Http404("No such form in this lab")
    learner = learner_from_request(request, create=True)
    context = {"lab": lab, "open": True}
    prefix = f"{form_class.name}-"
    try:
        view = SandboxView(sandbox_for_learner(learner=learner))
        if request.method == "GET":
            selected = {k.removeprefix(prefix): v for k, v in request.GET.items()}
            context["form"] = form_class(view=view, selected=selected)
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
                context["outcome"] = failure.outcome or bound.nothing_done
                context["failed_error"] = failure.call.error  # its Explain links
        else:
            context["outcome"] = (
                f"{bound.nothing_done} Fix what is marked and press {bound.submit} again."
            )
        # After a success, a fresh form whose choices include what was just made (and that
        # still shows the role the learner chose).
        if context.get("done"):
            selected = {"role_name": bound.cleaned_data.get("role_name", "")}
            context["form"] = form_class(view=SandboxView(view.sandbox), selected=selected)
        else:
            context["form"] = bound
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
    changed = any(
        not call.error for call in recorder.calls if not call.operation.startswith("Describe")
    )
    if not request.htmx:
        if context.get("done"):
            messages.success(request, context["done"])
        else:
            messages.error(request, f"{context['outcome']} {_errors_named(bound)}")
        return redirect(reverse("labs:detail", args=[lab.slug]) + f"#console-{form}")
    response = render(request, "labs/lab.html#console-section", context)
    return _changed(response, form) if changed else response


def _errors_named(form) -> str:
    """A form's errors, each after the label of its field."""
    said = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        said += [f"{label}: {error}" if label else error for error in errors]
    return " ".join(said)


@require_POST
def reset(request, slug):
    """Reset the lab; with ``before`` (a step's slug), rewind the sandbox to just before it."""
    lab = _lab_or_404(slug)
    learner = learner_from_request(request, create=True)
    if request.POST.get("before"):
        return _rewind(request, lab, learner, request.POST["before"])
    try:
        sandbox = sandbox_for_learner(learner=learner)
        lab_reset(learner=learner, sandbox=sandbox, lab=lab)
        lab_prepare(sandbox=sandbox, lab=lab)  # a break-fix lab's starting state
    except SANDBOX_ERRORS:
        messages.error(request, connection.RECONNECTING)
    except SetupFailed as failed:
        messages.error(request, f"The lab's starting state could not be set up: {failed}")
    else:
        state = "holds the lab's starting state" if lab.setup else "is empty"
        messages.success(
            request, f"Lab reset: your sandbox {state} and you are back at step 1. Your keys stay."
        )
    return redirect("labs:detail", slug=lab.slug)


def _rewind(request, lab: Lab, learner, before: str):
    step = lab.step(before)
    if step is None:
        messages.error(request, "There is no such step to rewind to: choose one from the list.")
        return redirect("labs:detail", slug=lab.slug)
    try:
        lab_rewind(
            learner=learner, sandbox=sandbox_for_learner(learner=learner), lab=lab, step=step
        )
    except RewindRefused as refused:
        messages.error(request, str(refused))
    except SANDBOX_ERRORS:
        messages.error(request, connection.RECONNECTING)
    else:
        messages.success(
            request,
            f"Rewound: your sandbox is as it was just before step {step.number} ({step.title}), "
            f"with the same ids. Try step {step.number} again.",
        )
    return redirect(reverse("labs:detail", args=[lab.slug]) + f"#{step.anchor}")

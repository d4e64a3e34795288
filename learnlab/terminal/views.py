import json
import logging

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from learnlab.learners.selectors import learner_from_request
from learnlab.lib.urls import safe_next
from learnlab.sandbox import connection
from learnlab.sandbox.services import sandbox_for_learner
from learnlab.terminal.selectors import shell_for_learner, shell_prompt, terminal_context
from learnlab.terminal.services import FAILED, ShellResult, shell_clear, shell_open, shell_run

log = logging.getLogger(__name__)


def _back(request):
    """Where a form post without htmx returns: the page it came from, else the terminal page."""
    target = safe_next(request, "")
    return redirect(target + "#terminal") if target else redirect("terminal:index")


@require_GET
def index(request):
    """The terminal on a page of its own."""
    context = {"section": "lab"}
    try:
        sandbox = sandbox_for_learner(learner=learner_from_request(request, create=True))
        context["terminal"] = terminal_context(shell=shell_open(sandbox=sandbox))
    except connection.SANDBOX_ERRORS:
        context["terminal"] = terminal_context(shell=None)
        context["error"] = connection.RECONNECTING
    return render(request, "terminal/index.html", context)


@require_POST
def run(request):
    """Run the posted ``line``; for htmx, the log entry to append and the next prompt."""
    line = request.POST.get("line", "")
    try:
        sandbox = sandbox_for_learner(learner=learner_from_request(request, create=True))
        result = shell_run(shell=shell_open(sandbox=sandbox), line=line)
    except connection.SANDBOX_ERRORS:
        result = _failure(line, connection.RECONNECTING)
    except Exception:
        log.exception("terminal request failed")
        result = _failure(line, FAILED)
    if not request.htmx:
        return _back(request)
    response = render(
        request, "terminal/_terminal.html#entry", {"entry": result.entry, "result": result}
    )
    if result.clear:
        response["HX-Reswap"] = "innerHTML"  # the log starts over
    if result.changed:
        # The lab page refreshes its picture of the sandbox (static/js/site.js, "lab-changed").
        response["HX-Trigger"] = json.dumps({"lab-changed": {"source": "terminal"}})
    return response


@require_POST
def clear(request):
    """The Clear button: an empty log, also after a reload."""
    shell = shell_for_learner(learner=learner_from_request(request, create=False))
    if shell is not None:
        shell_clear(shell=shell)
    if not request.htmx:
        return _back(request)
    return HttpResponse("")


def _failure(line: str, message: str) -> ShellResult:
    prompt = shell_prompt(shell=None)
    entry = {"prompt": prompt, "command": line[:2000], "output": message + "\n", "status": 1}
    return ShellResult(output=message + "\n", exit_status=1, prompt=prompt, entry=entry)

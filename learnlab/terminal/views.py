import json
import logging

from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from learnlab.imds.services import InstanceNotFound, instance_facts
from learnlab.learners.selectors import learner_from_request
from learnlab.lib.urls import safe_next
from learnlab.sandbox import connection
from learnlab.sandbox.services import sandbox_for_learner
from learnlab.terminal import home
from learnlab.terminal.completion import aws_completions
from learnlab.terminal.selectors import (
    home_listing,
    shell_for_learner,
    shell_prompt,
    terminal_context,
)
from learnlab.terminal.services import (
    FAILED,
    DatabaseHome,
    ShellResult,
    home_file_delete,
    home_file_save,
    shell_clear,
    shell_open,
    shell_run,
)

log = logging.getLogger(__name__)
OWN_HOSTS = "Files live on your workstation and on your own instances."


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


@require_GET
def complete(request):
    """Tab completion: what may follow the ``line`` (text up to the caret) of an aws command."""
    return JsonResponse({"completions": aws_completions(request.GET.get("line", ""))})


def _host(request, shell) -> str:
    """The home a files page is about: ``host`` if it is one of this learner's (the workstation,
    the host the shell is on, a home that has their files, or an instance in their sandbox),
    else, for no ``host`` or a malformed one, the host the shell is on. Raises HomeError for an
    instance id not in their sandbox: another learner's instance gets the same answer as a
    made-up id."""
    host = (request.POST.get("host") or request.GET.get("host") or "").strip()
    current = home.host_key(shell.instance_id)
    if host in (home.WORKSTATION, current):
        return host
    if not home.INSTANCE_ID.fullmatch(host):
        return current
    if DatabaseHome(shell).names(host):
        return host
    try:
        instance_facts(sandbox=shell.sandbox, instance_id=host)
    except InstanceNotFound as error:
        raise home.HomeError(str(error)) from error
    except connection.SANDBOX_ERRORS as error:
        raise home.HomeError(connection.RECONNECTING) from error
    return host


def _shell(request):
    sandbox = sandbox_for_learner(learner=learner_from_request(request, create=True))
    return shell_open(sandbox=sandbox)


@require_GET
def files(request):
    """Every home's files, each with Edit and Delete, and a form for a new file."""
    return _files_page(request, _shell(request))


def _files_page(request, shell, status: int = 200) -> HttpResponse:
    context = {
        "section": "lab",
        "homes": home_listing(shell=shell),
        "current": home.host_key(shell.instance_id),
        "next": safe_next(request, ""),
        "limits": {"kib": home.FILE_BYTES // 1024, "files": home.FILES_PER_HOST},
    }
    return render(request, "terminal/files.html", context, status=status)


def edit(request):
    """The in-page editor: one file in a textarea; saving keeps the quotas and says why not."""
    if request.method not in ("GET", "POST"):
        return HttpResponse(status=405)
    shell = _shell(request)
    try:
        host = _host(request, shell)
    except home.HomeError as problem:
        return _no_host(request, shell, str(problem))
    source = request.POST if request.method == "POST" else request.GET
    name = source.get("name", "").strip()
    content, error = "", ""
    if request.method == "POST":
        content = source.get("content", "")
        try:
            name = home_file_save(shell=shell, host=host, name=name, content=content)
        except home.HomeError as problem:
            error = f"{name or 'The file'}: {problem}."
        else:
            messages.success(request, f"Saved {name} ({host}).")
            target = safe_next(request, "")
            return redirect(target + "#terminal" if target else f"{reverse('terminal:files')}")
    elif name:
        try:
            found = DatabaseHome(shell).get(host, home.resolve(name, user=_user(host)))
        except home.HomeError as problem:
            error = f"{name}: {problem}."
        else:
            content = found.content if found else ""
    context = {
        "section": "lab",
        "host": host,
        "name": name,
        "content": content,
        "error": error,
        "next": safe_next(request, ""),
        "limits": {"kib": home.FILE_BYTES // 1024, "files": home.FILES_PER_HOST},
    }
    return render(request, "terminal/edit.html", context, status=400 if error else 200)


@require_POST
def delete(request):
    shell = _shell(request)
    name = request.POST.get("name", "")
    try:
        host = _host(request, shell)
    except home.HomeError as problem:
        messages.error(request, f"{problem} {OWN_HOSTS}")
        return redirect(reverse("terminal:files"))
    try:
        home_file_delete(shell=shell, host=host, name=home.resolve(name, user=_user(host)))
    except home.HomeError as problem:
        messages.error(request, f"{name}: {problem}.")
    else:
        messages.success(request, f"Deleted {name} ({host}).")
    return redirect(reverse("terminal:files"))


def _no_host(request, shell, problem: str) -> HttpResponse:
    """The files page, answering (404) that the home asked for is not one of the learner's."""
    messages.error(request, f"{problem} {OWN_HOSTS}")
    return _files_page(request, shell, status=404)


def _user(host: str) -> str:
    return "learner" if host == home.WORKSTATION else "ec2-user"

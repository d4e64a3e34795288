"""Reading recorded denials: only ever a sandbox's own."""

import re
from datetime import datetime

from learnlab.denials.models import Denial
from learnlab.sandbox.models import Sandbox


def denials_recent(*, sandbox: Sandbox, limit: int = 10) -> list[Denial]:
    return list(
        Denial.objects.filter(sandbox=sandbox).order_by("-created_at", "-id").defer("trace")[:limit]
    )


def denials_since(*, sandbox: Sandbox, since: datetime) -> list[Denial]:
    """What one command met (the terminal's "Explain" links), oldest first."""
    found = Denial.objects.filter(sandbox=sandbox, created_at__gte=since).defer("trace")
    return list(found.order_by("created_at", "id")[:5])


def denial_of_sandbox(*, sandbox: Sandbox | None, slug: str) -> Denial | None:
    """The denial, if it belongs to ``sandbox``; None otherwise (never another's)."""
    if sandbox is None or not isinstance(slug, str) or len(slug) > 22:
        return None
    return Denial.objects.filter(sandbox=sandbox, slug=slug).first()


def explain_path(denial: Denial) -> str:
    """Where the trace page is (the explain app's URL; a path, so lower apps can link)."""
    return f"/explain/denials/{denial.slug}"


ERROR_CODE = re.compile(r"An error occurred \(([A-Za-z0-9.]{1,64})\)")
EXPLAINED_CODES = frozenset(
    {
        "InvalidParameterValue",
        "NoSuchEntity",
        "LimitExceeded",
        "MalformedPolicyDocument",
        "UnauthorizedOperation",
        "AccessDenied",
        "ExpiredToken",
        "RequestExpired",
        "EntityAlreadyExists",
        "DeleteConflict",
        "IncorrectInstanceState",
        "IncorrectState",
        "InvalidClientTokenId",
    }
)  # the codes the explain app has a page for (explain/errors.py; a test keeps them equal)


def explain_lines(*, sandbox: Sandbox, since: datetime, stderr: str) -> str:
    """The lines the terminal prints after an AWS error: ``Explain: <path>`` for each denial
    the command met (its trace) and for the error's code (what it means); "" for none."""
    lines = [
        f"Explain why it was denied: {explain_path(d)}"
        for d in denials_since(sandbox=sandbox, since=since)
    ]
    codes = dict.fromkeys(m[1] for m in ERROR_CODE.finditer(stderr or ""))
    lines += [
        f"Explain {code}: /explain/errors/{code}" for code in codes if code in EXPLAINED_CODES
    ]
    return "".join(f"{line}\n" for line in lines)

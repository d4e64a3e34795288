"""Checks of the swap-and-pass-role lab (``content/swap-and-pass-role.toml``).

Step 1 reads the instance (running, never restarted) and the metadata service's own record: it
served the new role's credentials on the same instance, with no restart. Step 2 reads IAM (the
operator's policies), EC2 (which role the instance carries now) and the gate's record of
denials (the operator's ``iam:PassRole`` refused first, as AWS refuses it).
"""

import json

from learnlab.denials.models import Denial
from learnlab.imds.models import MetadataRequest
from learnlab.labs.checks import CheckResult, SandboxView, _as_list, _document
from learnlab.labs.checks_ssrf import CREDENTIALS_PATH, instance_check
from learnlab.lib.iam_policy import action_matches

APP_TAG = "swap-app"
FIRST_ROLE, NEW_ROLE = "AppRoleA", "AppRoleB"
OPERATOR = "operator"


def _no_instance() -> CheckResult:
    return CheckResult(
        False,
        "The swap-app instance is not running. Reset the lab to get its prepared state back; "
        "a stopped instance would also have to restart, which this lab is about avoiding.",
    )


@instance_check("role_swapped_live", APP_TAG, _no_instance)
def role_swapped_live(view: SandboxView, instance: dict, role: str, facts: dict) -> CheckResult:
    """The running instance's metadata service served the new role's credentials, no restart."""
    instance_id = instance["InstanceId"]
    served = (
        MetadataRequest.objects.filter(
            sandbox=view.sandbox,
            instance_id=instance_id,
            at__gte=instance["LaunchTime"],
            method="GET",
            status=200,
            path__endswith=f"{CREDENTIALS_PATH}{NEW_ROLE}",
        )
        .order_by("id")
        .first()
    )
    if served is not None:
        return CheckResult(
            True,
            f"{instance_id} kept running (launched {instance['LaunchTime']:%H:%M:%S} UTC) and its "
            f"metadata service handed out {NEW_ROLE}'s credentials at {served.at:%H:%M:%S} UTC: "
            f"the role changed under a running instance, no restart.",
            facts=facts | {"swapped": True},
        )
    if role != NEW_ROLE:
        return CheckResult(
            False,
            f"{instance_id} carries role {role or 'none'}. Replace its profile with {NEW_ROLE}: "
            f"find the association (aws ec2 describe-iam-instance-profile-associations), then "
            f"aws ec2 replace-iam-instance-profile-association --association-id <id> "
            f"--iam-instance-profile Name={NEW_ROLE}, or Modify IAM role below.",
            facts=facts,
        )
    return CheckResult(
        False,
        f"{instance_id} now carries {NEW_ROLE}. See the switch from the instance: connect "
        f"{instance_id}, then curl http://169.254.169.254/latest/meta-data/iam/security-"
        f"credentials/ (it lists {NEW_ROLE}) and fetch {NEW_ROLE}'s credentials.",
        facts=facts,
    )


def _pass_role_resources(view: SandboxView) -> list[str] | None:
    """The resources the operator's policies allow iam:PassRole on (None: no such user)."""
    try:
        iam = view.iam
        names = iam.list_user_policies(UserName=OPERATOR)["PolicyNames"]
        documents = [
            _document(iam.get_user_policy(UserName=OPERATOR, PolicyName=n)["PolicyDocument"])
            for n in names
        ]
        for attached in iam.list_attached_user_policies(UserName=OPERATOR)["AttachedPolicies"]:
            version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
            documents.append(
                _document(
                    iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)[
                        "PolicyVersion"
                    ]["Document"]
                )
            )
    except view.iam.exceptions.NoSuchEntityException:
        return None
    resources = []
    for document in documents:
        for statement in _as_list(document.get("Statement")):
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                continue
            if action_matches(_as_list(statement.get("Action")), "iam:PassRole"):
                resources += [str(r) for r in _as_list(statement.get("Resource"))]
    return resources


@instance_check("pass_role_scoped", APP_TAG, _no_instance)
def pass_role_scoped(view: SandboxView, instance: dict, role: str, facts: dict) -> CheckResult:
    """The operator was refused iam:PassRole, then given it on one role and attached it."""
    instance_id = instance["InstanceId"]
    operator_arn = f"arn:aws:iam::{view.sandbox.account_id}:user/{OPERATOR}"
    refused = Denial.objects.filter(
        sandbox=view.sandbox, principal_arn=operator_arn, action="iam:PassRole"
    ).exists()
    if not refused:
        return CheckResult(
            False,
            f"The {OPERATOR} user has not met the PassRole refusal yet. Make keys for it (aws "
            f"iam create-access-key --user-name {OPERATOR}), use them in the terminal (export "
            f"AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=…) and, as {OPERATOR}, put {FIRST_ROLE} "
            f"back on {instance_id} with replace-iam-instance-profile-association.",
            facts=facts,
        )
    resources = _pass_role_resources(view)
    if resources is None:
        return CheckResult(False, f"There is no IAM user {OPERATOR}: reset the lab.", facts=facts)
    role_arn = f"arn:aws:iam::{view.sandbox.account_id}:role/{FIRST_ROLE}"
    if not resources:
        return CheckResult(
            False,
            f"{OPERATOR} was refused iam:PassRole, as AWS refuses it. Now, as your lab user "
            f"(export its keys again), give {OPERATOR} a policy that allows "
            f"iam:PassRole on {role_arn} only: aws iam put-user-policy --user-name {OPERATOR} "
            f"--policy-name PassAppRoleA --policy-document '…'.",
            facts=facts,
        )
    # The account may be written as * (the lab's one account); the role's name may not.
    broad = [r for r in resources if any(c in r.rpartition(":")[2] for c in "*?")]
    if broad:
        return CheckResult(
            False,
            f"{OPERATOR} may pass {', '.join(broad)}: any role that matches, including roles "
            f"with more power than {OPERATOR} has, which is how PassRole lets a user escalate. "
            f"Scope it to the one role: Resource {json.dumps(role_arn)}.",
            facts=facts,
        )
    if role != FIRST_ROLE:
        return CheckResult(
            False,
            f"{OPERATOR} may pass {', '.join(resources)}. Now, as {OPERATOR}, put {FIRST_ROLE} "
            f"back on {instance_id} (replace-iam-instance-profile-association); it carries "
            f"{role or 'no role'}.",
            facts=facts,
        )
    return CheckResult(
        True,
        f"{OPERATOR} was refused iam:PassRole, then allowed it on {', '.join(resources)} only, "
        f"and {instance_id} carries {FIRST_ROLE} again.",
        facts=facts | {"pass_role": True},
    )

"""Step checks: small functions that read the learner's sandbox.

Steps 1 to 3 read the account through the gate, as AWS would show it. Steps 4 to 6 happen on the
instance, where AWS keeps no trace a learner could read: they read what LearnLab recorded, the
instance's credential sets in the database (``InstanceCredentials``), and pass only on the
learner's own acts: a set fetched from the instance's metadata service (``fetched_at``: curl, an
SDK, the in-page terminal), a call made with it, two different sets seen (fetched, or shown on
the instance's credentials page: ``shown_at``). The lab clock issuing a set proves nothing.
A check never looks at what the learner typed and, when something is wrong, names the exact
problem and what to do about it. Each returns a ``CheckResult`` whose ``facts`` (what exists)
also feed the lab's diagram.
"""

import copy
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from django.utils import timezone

from learnlab.gate.client import aws_client
from learnlab.imds.models import InstanceCredentials
from learnlab.lib import clock
from learnlab.lib.iam_policy import EC2_SERVICE, action_matches, parse_policy, trust_allows
from learnlab.sandbox import connection
from learnlab.sandbox.models import Sandbox

TRUST_FIX = (
    'Set its Principal to {"Service": "ec2.amazonaws.com"} with "Action": "sts:AssumeRole": '
    "use Edit trust policy below, or "
    "aws iam update-assume-role-policy --role-name {role} --policy-document '…'."
)


@dataclass
class CheckResult:
    passed: bool
    message: str
    warning: str = ""
    facts: dict = field(default_factory=dict)


CHECKS: dict[str, Callable[["SandboxView"], CheckResult]] = {}


def check(name: str):
    """Register a check under the name lab files use."""

    def register(function):
        CHECKS[name] = function
        return function

    return register


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# What a sandbox holds follows from its replay log: a rebuild replays the log to the same state,
# and every call that changes IAM or EC2 (the learner's tools, console forms, the terminal: all
# through the gate) adds to it. So the reads a check makes at one state of the log serve every
# page and Check that sees that same state (a class's learners look at the lab page, press
# Check, look again: most see no change in between), in this process, until the log moves on,
# the sandbox is reset or rebuilt (``built_at``), or it is not ready (then every read goes to
# the sandbox server, whose answer the gate turns into a rebuild or "reconnecting"). The server's
# boot id, asked each time (one small internal call instead of the reads), is part of the state:
# a server that is down is seen as down (the page says "reconnecting"), and one that restarted
# lost what it held, so the reads go through the gate again, which rebuilds the sandbox.
READS_KEPT = 2000  # sandboxes whose last reads a process keeps (a few KiB each)
# What the lists read in an account just provisioned, with an empty log: its lab user is a user,
# not a role, and nothing else is made until a call the log records (tests/labs/test_first_view.py
# reads them through the gate to hold this to moto).
PROVISIONED_READS = {"roles": [], "instance_profiles": [], "instances": []}
_reads: OrderedDict[int, tuple[tuple, dict]] = OrderedDict()
_reads_lock = threading.Lock()


def _log_state(sandbox: Sandbox) -> tuple | None:
    """What the reads of ``sandbox`` are kept under: its log's state as the database has it now
    (not as ``sandbox`` was loaded: this request may have made calls since), and the server
    holding it and that server's boot; None when it is not ready."""
    row = (
        Sandbox.objects.filter(pk=sandbox.pk)
        .values_list("status", "built_at", "log_calls", "log_bytes", "server", "account_id")
        .first()
    )
    if row is None or row[0] != Sandbox.Status.READY:
        return None
    try:
        boot_id = connection.health(server=row[4])["boot_id"]
    except connection.SANDBOX_ERRORS:
        return None  # down: the reads go through the gate and fail as they always have
    return (*row, connection.server_url(row[4]), boot_id)


class SandboxView:
    """The sandbox as checks see it: reads through the gate as the lab user, each made once,
    and kept for the next view of the same state of the sandbox (``_log_state``). Callers get
    copies: what one changes, the next does not see."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox

    @functools.cached_property
    def iam(self):
        return aws_client("iam", sandbox=self.sandbox)

    @functools.cached_property
    def ec2(self):
        return aws_client("ec2", sandbox=self.sandbox)

    @functools.cached_property
    def _kept(self) -> dict:
        """The reads kept for the sandbox's current state (filled as they are made)."""
        state = _log_state(self.sandbox)
        if state is None:
            return {}  # read afresh, kept for this view only
        with _reads_lock:
            found = _reads.get(self.sandbox.pk)
            if found is not None and found[0] == state:
                _reads.move_to_end(self.sandbox.pk)
                return found[1]
            empty_log = state[2] == 0  # state[2]: the log's calls
            fresh = self.sandbox.just_provisioned and empty_log
            kept = copy.deepcopy(PROVISIONED_READS) if fresh else {}
            _reads[self.sandbox.pk] = (state, kept)
            while len(_reads) > READS_KEPT:
                _reads.popitem(last=False)
            return kept

    def _read(self, key, read: Callable):
        kept = self._kept
        if key not in kept:
            kept[key] = read()
        return copy.deepcopy(kept[key])

    @functools.cached_property
    def roles(self) -> list[dict]:
        """Every role, newest first."""
        return self._read("roles", self._roles)

    def _roles(self) -> list[dict]:
        pages = self.iam.get_paginator("list_roles").paginate()
        roles = [role for page in pages for role in page["Roles"]]
        return sorted(roles, key=lambda r: r["CreateDate"], reverse=True)

    @functools.cached_property
    def instance_profiles(self) -> list[dict]:
        """Every instance profile with its roles, newest first."""
        return self._read("instance_profiles", self._instance_profiles)

    def _instance_profiles(self) -> list[dict]:
        pages = self.iam.get_paginator("list_instance_profiles").paginate()
        profiles = [p for page in pages for p in page["InstanceProfiles"]]
        return sorted(profiles, key=lambda p: p["CreateDate"], reverse=True)

    @functools.cached_property
    def instances(self) -> list[dict]:
        """Every instance, newest first."""
        return self._read("instances", self._instances)

    def _instances(self) -> list[dict]:
        pages = self.ec2.get_paginator("describe_instances").paginate()
        found = [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
        return sorted(found, key=lambda i: i["LaunchTime"], reverse=True)

    @functools.cache  # noqa: B019 - one view lives for one request
    def permission_documents(self, role_name: str) -> list[tuple[str, dict]]:
        """(label, document) for each permissions policy of the role, managed and inline."""
        return self._read(("permission_documents", role_name), lambda: self._documents(role_name))

    def _documents(self, role_name: str) -> list[tuple[str, dict]]:
        documents = []
        attached = self.iam.list_attached_role_policies(RoleName=role_name)
        for policy in attached["AttachedPolicies"]:
            arn = policy["PolicyArn"]
            version = self.iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            document = self.iam.get_policy_version(PolicyArn=arn, VersionId=version)
            documents.append((policy["PolicyName"], document["PolicyVersion"]["Document"]))
        for name in self.iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
            document = self.iam.get_role_policy(RoleName=role_name, PolicyName=name)
            documents.append((name, document["PolicyDocument"]))
        return [(label, _document(doc)) for label, doc in documents]

    def role(self, name: str) -> dict | None:
        return next((r for r in self.roles if r["RoleName"] == name), None)

    def profile_by_arn(self, arn: str) -> dict | None:
        return next((p for p in self.instance_profiles if p["Arn"] == arn), None)


def _document(document) -> dict:
    if isinstance(document, str):
        document = unquote(document)
    try:
        return parse_policy(document)
    except ValueError:
        return {}


# Step 1: the role -------------------------------------------------------------------------


@dataclass
class RoleReview:
    problem: str = ""
    warning: str = ""


def _trust_problem(role: dict) -> str:
    name = role["RoleName"]
    document = _document(role["AssumeRolePolicyDocument"])
    if trust_allows(document, service=EC2_SERVICE):
        return ""
    fix = TRUST_FIX.replace("{role}", name)
    services, identities, ec2_actions = [], [], []
    for statement in _as_list(document.get("Statement")):
        principal = statement.get("Principal") if isinstance(statement, dict) else None
        if not isinstance(principal, dict) or statement.get("Effect") != "Allow":
            continue
        services += _as_list(principal.get("Service"))
        identities += _as_list(principal.get("AWS"))
        if EC2_SERVICE in _as_list(principal.get("Service")):
            ec2_actions += _as_list(statement.get("Action"))
    if EC2_SERVICE in services:
        if ec2_actions and not action_matches(ec2_actions, "sts:AssumeRole"):
            shown = ", ".join(str(a) for a in ec2_actions)
            return (
                f"Role {name} trusts ec2.amazonaws.com but only for {shown}: the trust policy "
                f'needs "Action": "sts:AssumeRole", the call EC2 makes to get the role\'s '
                f"credentials for your instance. Fix the Action: use Edit trust policy below, "
                f"or aws iam update-assume-role-policy."
            )
        return (
            f"Role {name}'s trust policy mentions ec2.amazonaws.com but a Deny or missing "
            f"sts:AssumeRole stops EC2 from assuming it. {fix}"
        )
    if identities:
        return (
            f"Role {name} trusts {', '.join(identities)}: an IAM user or account, not the EC2 "
            f"service. An instance gets the role's credentials because EC2 assumes the role on "
            f"its behalf, so the trusted principal must be the service. {fix}"
        )
    if services:
        return (
            f"Role {name} trusts {', '.join(services)}, a different AWS service: only that "
            f"service could assume it, and EC2 cannot. {fix}"
        )
    return f"Role {name}'s trust policy allows nobody to assume it. {fix}"


def _broad(document: dict) -> bool:
    """An Allow of every action: what least privilege warns about (EP14)."""
    return any(
        isinstance(s, dict)
        and s.get("Effect") == "Allow"
        and any(str(a) in ("*", "*:*") for a in _as_list(s.get("Action")))
        for s in _as_list(document.get("Statement"))
    )


def role_review(view: SandboxView, role: dict) -> RoleReview:
    """What, if anything, stops this role from serving an EC2 instance."""
    problem = _trust_problem(role)
    if problem:
        return RoleReview(problem=problem)
    name = role["RoleName"]
    documents = view.permission_documents(name)
    if not documents:
        return RoleReview(
            problem=(
                f"Role {name} trusts EC2 but has no permissions policy, so the credentials your "
                f"instance would get could do nothing. Attach one, for example "
                f"AmazonS3ReadOnlyAccess: use Add permissions below, or aws iam "
                f"attach-role-policy --role-name {name} --policy-arn "
                f"arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess."
            )
        )
    broad = [label for label, document in documents if _broad(document)]
    if broad:
        return RoleReview(
            warning=(
                f'{", ".join(broad)} allows "Action": "*": every action on every service. It '
                f"works, but anyone who gets this instance's credentials could do anything in the "
                f"account. Grant only what the application needs (least privilege, EP14), for "
                f"example AmazonS3ReadOnlyAccess."
            )
        )
    return RoleReview()


def _good_role(view: SandboxView) -> tuple[dict | None, RoleReview]:
    """The newest role fit for EC2, else the newest role with its problem."""
    reviews = [(role, role_review(view, role)) for role in view.roles]
    for role, review in reviews:
        if not review.problem:
            return role, review
    return reviews[0] if reviews else (None, RoleReview())


@check("role_for_ec2")
def role_for_ec2(view: SandboxView) -> CheckResult:
    """Passes when a role trusts ec2.amazonaws.com (sts:AssumeRole) and has a permissions policy."""
    role, review = _good_role(view)
    if role is None:
        return CheckResult(
            False,
            "Your sandbox has no role yet. Create one whose trust policy lets ec2.amazonaws.com "
            "call sts:AssumeRole, and give it a permissions policy.",
        )
    facts = {"role": role["RoleName"]}
    if review.problem:
        return CheckResult(False, review.problem, facts=facts | {"role_ok": False})
    policies = ", ".join(label for label, _ in view.permission_documents(role["RoleName"]))
    return CheckResult(
        True,
        f"Role {role['RoleName']} trusts ec2.amazonaws.com and carries {policies}.",
        warning=review.warning,
        facts=facts | {"role_ok": True},
    )


# Step 2: the instance profile -------------------------------------------------------------


def _profile_review(view: SandboxView, profile: dict) -> str:
    name = profile["InstanceProfileName"]
    if not profile["Roles"]:
        return (
            f"Instance profile {name} holds no role, so an instance it is attached to gets no "
            f"credentials. Add your role: aws iam add-role-to-instance-profile "
            f"--instance-profile-name {name} --role-name <your role>."
        )
    role = view.role(profile["Roles"][0]["RoleName"]) or profile["Roles"][0]
    review = role_review(view, role)
    if review.problem:
        return f"Instance profile {name} holds role {role['RoleName']}, but: {review.problem}"
    return ""


def _good_profile(view: SandboxView) -> tuple[dict | None, str]:
    reviews = [(p, _profile_review(view, p)) for p in view.instance_profiles]
    for profile, problem in reviews:
        if not problem:
            return profile, ""
    return reviews[0] if reviews else (None, "")


@check("profile_with_role")
def profile_with_role(view: SandboxView) -> CheckResult:
    """Passes when an instance profile holds a role that passes step 1's review."""
    profile, problem = _good_profile(view)
    if profile is None:
        role, _ = _good_role(view)
        suggestion = role["RoleName"] if role else "<your role>"
        return CheckResult(
            False,
            "Your sandbox has no instance profile yet. EC2 attaches a profile, not a role: "
            f"aws iam create-instance-profile --instance-profile-name {suggestion}, then "
            "add-role-to-instance-profile. (Creating the role in the console way makes the "
            "profile for you.)",
        )
    name = profile["InstanceProfileName"]
    facts = {"profile": name}
    if problem:
        return CheckResult(False, problem, facts=facts)
    role_name = profile["Roles"][0]["RoleName"]
    same = " (the same name, as the console makes it)" if role_name == name else ""
    return CheckResult(
        True,
        f"Instance profile {name} holds role {role_name}{same}.",
        facts=facts | {"role": role_name, "profile_role": role_name},
    )


# Step 3: the instance ---------------------------------------------------------------------


def _instance_profile(view: SandboxView, instance: dict) -> dict | None:
    arn = (instance.get("IamInstanceProfile") or {}).get("Arn")
    return view.profile_by_arn(arn) if arn else None


@check("instance_with_profile")
def instance_with_profile(view: SandboxView) -> CheckResult:
    """Passes when a running instance has an instance profile whose role passes step 1's review."""
    instances = view.instances
    if not instances:
        return CheckResult(
            False,
            "Your sandbox has no instance yet. Launch one with your instance profile: "
            "aws ec2 run-instances --image-id ami-0453ec754f44f9a4a --instance-type t3.micro "
            "--iam-instance-profile Name=<your profile>, or use Launch an instance below.",
        )
    problems = []
    for instance in instances:
        instance_id, state = instance["InstanceId"], instance["State"]["Name"]
        arn = (instance.get("IamInstanceProfile") or {}).get("Arn")
        profile = _instance_profile(view, instance)
        facts = {"instance": instance_id, "instance_state": state}
        if arn and profile is None:
            problems.append(
                (
                    state != "running",
                    f"Instance {instance_id} points at an instance profile that no longer "
                    f"exists ({arn.rsplit('/', 1)[-1]}). Attach an existing profile with "
                    f"replace-iam-instance-profile-association, or Modify IAM role below.",
                    facts,
                )
            )
            continue
        if profile is None:
            problems.append(
                (
                    state != "running",
                    f"Instance {instance_id} ({state}) was launched without an instance profile, "
                    f"so it has no role. Attach yours: aws ec2 associate-iam-instance-profile "
                    f"--instance-id {instance_id} --iam-instance-profile Name=<your profile>, "
                    f"or use Modify IAM role below.",
                    facts,
                )
            )
            continue
        name = profile["InstanceProfileName"]
        facts |= {"profile": name}
        problem = _profile_review(view, profile)
        if state in ("stopped", "stopping", "terminated", "shutting-down"):
            advice = (
                f"Start it (aws ec2 start-instances --instance-ids {instance_id})"
                if state in ("stopped", "stopping")
                else "A terminated instance never runs again: launch a new one with the profile"
            )
            problems.append(
                (
                    True,
                    f"Instance {instance_id} has profile {name} but is {state}: nothing runs on "
                    f"it to use the role's credentials. {advice}, or attach {name} to a running "
                    f"instance.",
                    facts,
                )
            )
            continue
        if problem:
            problems.append((False, problem, facts))
            continue
        role_name = profile["Roles"][0]["RoleName"]
        return CheckResult(
            True,
            f"Instance {instance_id} is running with profile {name}, so software on it can get "
            f"role {role_name}'s credentials.",
            facts=facts | {"role": role_name, "profile_role": role_name},
        )
    # A running instance's problem is the most useful one to name.
    _, message, facts = sorted(problems, key=lambda p: p[0])[0]
    return CheckResult(False, message, facts=facts)


# Steps 4 to 6: on the instance --------------------------------------------------------------


def _attached(view: SandboxView) -> tuple[CheckResult, list]:
    """Step 3's result and, when it passed, the credential sets issued to that instance."""
    attached = instance_with_profile(view)
    if not attached.passed:
        return attached, []
    sets = InstanceCredentials.objects.select_related("access_key").filter(
        sandbox=view.sandbox,
        instance_id=attached.facts["instance"],
        role_name=attached.facts["role"],
    )
    return attached, list(sets.order_by("issued_at"))


def _first_finish_step_3(attached: CheckResult) -> CheckResult:
    return CheckResult(False, f"First finish step 3. {attached.message}", facts=attached.facts)


def _when(moment) -> str:
    return f"{moment:%H:%M:%S} UTC"


def _credentials_url(role: str) -> str:
    return f"http://169.254.169.254/latest/meta-data/iam/security-credentials/{role}"


def _seen_at(credentials: InstanceCredentials):
    """When the learner first saw this set: fetched from the metadata service or shown on the
    instance's credentials page, whichever came first (None: never)."""
    moments = [m for m in (credentials.fetched_at, credentials.shown_at) if m is not None]
    return min(moments) if moments else None


@check("metadata_credentials_read")
def metadata_credentials_read(view: SandboxView) -> CheckResult:
    """Passes when the role's credentials were fetched from step 3's instance's metadata service."""
    attached, sets = _attached(view)
    if not attached.passed:
        return _first_finish_step_3(attached)
    instance_id, role = attached.facts["instance"], attached.facts["role"]
    fetched = [s for s in sets if s.fetched_at is not None]
    if not fetched:
        issued = (
            " The lab clock has issued its credentials, but nothing has read them from the "
            "metadata service yet."
            if sets
            else ""
        )
        return CheckResult(
            False,
            f"Nothing on {instance_id} has fetched role {role}'s credentials from its metadata "
            f"service yet.{issued} Run curl {_credentials_url(role)} on the instance: connect "
            f"the terminal to it first (connect {instance_id}); curl http://169.254.169.254/"
            f"latest/meta-data/iam/security-credentials/ lists the role's name.",
            facts=attached.facts | {"credentials": bool(sets)},
        )
    latest = max(fetched, key=lambda s: s.fetched_at)
    return CheckResult(
        True,
        f"You fetched role {role}'s temporary credentials from {instance_id}'s metadata "
        f"service: access key {latest.access_key.access_key_id}, at {_when(latest.fetched_at)}, "
        f"with a session token and an expiration time ({_when(latest.expires_at)}).",
        facts=attached.facts
        | {
            "credentials": True,
            "fetched_key": latest.access_key.access_key_id,
            "fetched_at": latest.fetched_at.isoformat(),
        },
    )


@check("role_credentials_used")
def role_credentials_used(view: SandboxView) -> CheckResult:
    """Passes when a set of step 3's instance's role credentials made a successful AWS call."""
    attached, sets = _attached(view)
    if not attached.passed:
        return _first_finish_step_3(attached)
    instance_id, role = attached.facts["instance"], attached.facts["role"]
    used = [s for s in sets if s.access_key.last_used_at is not None]
    if not used:
        return CheckResult(
            False,
            f"Role {role}'s credentials from {instance_id} have not made a successful AWS call "
            f"yet. On the instance, run aws sts get-caller-identity: with nothing configured, "
            f"the CLI finds the role's credentials through the metadata service by itself.",
            facts=attached.facts | {"credentials": bool(sets)},
        )
    return CheckResult(
        True,
        f"Calls were made as {used[-1].access_key.principal_arn}: the role's credentials, "
        f"found by the CLI with no keys stored on the instance.",
        facts=attached.facts | {"credentials": True, "used": True},
    )


@check("credentials_rotated")
def credentials_rotated(view: SandboxView) -> CheckResult:
    """Passes when the learner saw two different sets of step 3's instance's credentials."""
    attached, sets = _attached(view)
    if not attached.passed:
        return _first_finish_step_3(attached)
    instance_id, role = attached.facts["instance"], attached.facts["role"]
    facts = attached.facts | {"credentials": bool(sets)}
    seen = sorted((s for s in sets if _seen_at(s) is not None), key=_seen_at)
    page = f"/sandbox/instances/{instance_id}/"
    if not seen:
        return CheckResult(
            False,
            f"You have not seen {instance_id}'s credentials yet: fetch them from its metadata "
            f"service first (step 4: curl {_credentials_url(role)} on the instance), or open "
            f"the instance's credentials page ({page}).",
            facts=facts,
        )
    if len(seen) < 2:
        wait = int(clock.renew_after(at_speed=view.sandbox.lab_clock_speed).total_seconds())
        first = seen[0]
        where = f"access key {first.access_key.access_key_id}, seen at {_when(_seen_at(first))}"
        newer = [s for s in sets if s.issued_at > first.issued_at]
        if newer:
            return CheckResult(
                False,
                f"No renewal seen yet: you have seen one set on {instance_id} ({where}), and a "
                f"newer one was issued at {_when(newer[-1].issued_at)}. Fetch again now (curl "
                f"{_credentials_url(role)} on the instance) or open the instance's credentials "
                f"page ({page}), then check again.",
                facts=facts,
            )
        paused = (
            " Your instructor has paused rotation for now: the renewal comes once it resumes."
            if view.sandbox.rotation_paused
            else ""
        )
        due = _when(first.renew_at)
        if first.renew_at <= timezone.now():
            due = f"{due} (due now: a few seconds)"
        return CheckResult(
            False,
            f"No renewal yet: you have seen one set on {instance_id} ({where}). A new set "
            f"arrives about every lab-hour (about {wait} s at this lab's clock).{paused} Open "
            f"the instance's credentials page ({page}) and wait for the next renewal at {due}, "
            f"or fetch again after {due} (curl {_credentials_url(role)} on the instance), then "
            f"check again.",
            facts=facts,
        )
    older, newer = seen[-2], seen[-1]
    in_time = newer.issued_at < older.expires_at
    overlap = (
        "the new set arrived while the previous one was still valid, so applications that "
        "re-read the metadata never see an expired key"
        if in_time
        else "the new set was issued after the previous one had expired"
    )
    return CheckResult(
        True,
        f"{instance_id} has received {len(sets)} sets of credentials and you saw two different "
        f"access keys: {older.access_key.access_key_id} (at {_when(_seen_at(older))}) and then "
        f"{newer.access_key.access_key_id} (at {_when(_seen_at(newer))}): {overlap}.",
        facts=facts | {"used": any(s.access_key.last_used_at for s in sets)},
    )


# The later labs' checks register themselves here, where CHECKS is loaded.
from learnlab.labs import checks_least_privilege, checks_ssrf, checks_swap  # noqa: E402, F401

"""The instance chain debugger: why can (or can't) this instance get credentials?

Each link of the chain an instance's credentials travel, judged as it is now: the instance
runs; an instance profile is associated; the profile still exists; it holds a role; the role's
trust policy lets ``ec2.amazonaws.com`` assume it (statement by statement, with
``lib.iam_policy.explain_trust``, the evaluator the metadata service and the gate use); the
metadata service answers (the same ``respond`` the terminal's curl calls, in-process, as an SDK
asks: a token first, then iam/info and the role's name; never the role's credentials document,
whose first fetch is step 4's own act, left to the learner's curl); and what the credentials
may do (the role's policies summarised). The first broken link is the one to fix, and says how.
"""

import json
import re
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from learnlab.gate.client import aws_client
from learnlab.imds.metadata import TOKEN_HEADER, TOKEN_PATH, TOKEN_TTL_HEADER, respond
from learnlab.imds.services import endpoint_for
from learnlab.lib.iam_policy import EC2_SERVICE, EC2_TRUST_POLICY, explain_trust, parse_policy
from learnlab.sandbox import connection
from learnlab.sandbox.models import Sandbox

INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
CREDENTIALS_PATH = "/latest/meta-data/iam/security-credentials/"
INFO_PATH = "/latest/meta-data/iam/info"


@dataclass
class Link:
    key: str
    title: str
    ok: bool | None  # None: not reached (an earlier link is broken)
    detail: str = ""
    fix: str = ""
    command: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class Chain:
    instance_id: str
    found: bool = True
    links: list[Link] = field(default_factory=list)

    @property
    def broken(self) -> Link | None:
        return next((link for link in self.links if link.ok is False), None)


def _unreached(chain: Chain, *rest: tuple[str, str]) -> Chain:
    chain.links += [
        Link(key, title, None, "Not checked: an earlier link is broken.") for key, title in rest
    ]
    return chain


LINKS = (
    ("running", "The instance is running"),
    ("profile", "An instance profile is associated"),
    ("profile-exists", "The profile exists"),
    ("role", "The profile holds a role"),
    ("trust", "The role's trust policy lets EC2 assume it"),
    ("metadata", "The metadata service serves the role"),
    ("permissions", "What the credentials may do"),
)


def _rest(after: str) -> tuple:
    keys = [k for k, _ in LINKS]
    return LINKS[keys.index(after) + 1 :]


def instance_chain(*, sandbox: Sandbox, instance_id: str) -> Chain:
    chain = Chain(instance_id)
    if not INSTANCE_ID.fullmatch(instance_id):
        chain.found = False
        return chain
    try:
        facts = connection.instance_get(sandbox.account_id, instance_id)
    except connection.SandboxServerError as error:
        if error.status == 404:
            chain.found = False
            return chain
        raise
    # 1. running
    state = facts["state"]
    running = state == "running"
    chain.links.append(
        Link(
            "running",
            LINKS[0][1],
            running,
            f"State: {state}.",
            ""
            if running
            else "Nothing runs on a stopped or terminated instance, so no metadata "
            "service answers. Start it (or launch a new one).",
            "" if running else f"aws ec2 start-instances --instance-ids {instance_id}",
        )
    )
    if not running:
        return _unreached(chain, *_rest("running"))
    # 2. profile associated
    profile = facts.get("profile")
    if profile is None:
        chain.links.append(
            Link(
                "profile",
                LINKS[1][1],
                False,
                "No instance profile is associated with this instance, so the metadata service "
                "has no iam/ category at all.",
                "Associate an instance profile (not the role: EC2 takes the profile, the wrapper "
                "around the role).",
                f"aws ec2 associate-iam-instance-profile --instance-id {instance_id} "
                "--iam-instance-profile Name=<your profile>",
            )
        )
        return _unreached(chain, *_rest("profile"))
    chain.links.append(Link("profile", LINKS[1][1], True, f"Associated: {profile['arn']}."))
    # 3. profile exists
    if not profile["exists"]:
        chain.links.append(
            Link(
                "profile-exists",
                LINKS[2][1],
                False,
                "The associated profile was deleted (or deleted and made again, which gives a "
                "new profile id): the association still names the old one.",
                "Replace the association with a profile that exists.",
                "aws ec2 describe-iam-instance-profile-associations --filters "
                f"Name=instance-id,Values={instance_id}  # then: aws ec2 "
                "replace-iam-instance-profile-association --association-id <id> "
                "--iam-instance-profile Name=<your profile>",
            )
        )
        return _unreached(chain, *_rest("profile-exists"))
    chain.links.append(Link("profile-exists", LINKS[2][1], True, f"Profile id {profile['id']}."))
    # 4. role in the profile
    role = profile["role"]
    profile_name = profile["arn"].rpartition("/")[2]
    if role is None:
        chain.links.append(
            Link(
                "role",
                LINKS[3][1],
                False,
                f"Instance profile {profile_name} holds no role: there is nothing for EC2 to "
                "assume, so iam/security-credentials/ is empty.",
                "Add your role to the profile.",
                f"aws iam add-role-to-instance-profile --instance-profile-name {profile_name} "
                "--role-name <your role>",
            )
        )
        return _unreached(chain, *_rest("role"))
    chain.links.append(Link("role", LINKS[3][1], True, f"Role {role['name']} ({role['arn']})."))
    # 5. trust
    trust_document = connection.role_get(sandbox.account_id, role["name"])["trust_policy"]
    trust = explain_trust(trust_document, service=EC2_SERVICE)
    try:
        shown = json.dumps(parse_policy(trust_document), indent=2)
    except ValueError:
        shown = str(trust_document)
    chain.links.append(
        Link(
            "trust",
            LINKS[4][1],
            trust.allowed,
            f"Verdict: {trust.verdict}.",
            ""
            if trust.allowed
            else "The role's trust policy must allow sts:AssumeRole for the service principal "
            f"{EC2_SERVICE}: an instance gets credentials because EC2 assumes the role.",
            ""
            if trust.allowed
            else f"aws iam update-assume-role-policy --role-name {role['name']} "
            f"--policy-document '{EC2_TRUST_POLICY}'",
            {"trust": trust, "document": shown},
        )
    )
    if not trust.allowed:
        return _unreached(chain, *_rest("trust"))
    # 6. the metadata service, asked as an SDK asks it (IMDSv2)
    endpoint = endpoint_for(sandbox=sandbox, instance_id=instance_id)
    asked = []
    token = respond(endpoint, method="PUT", path=TOKEN_PATH, headers={TOKEN_TTL_HEADER: "60"})
    asked.append(("PUT", TOKEN_PATH, token.status, "(a session token)"))
    headers = {TOKEN_HEADER: token.body} if token.status == 200 else {}
    info = respond(endpoint, method="GET", path=INFO_PATH, headers=headers)
    asked.append(("GET", INFO_PATH, info.status, info.body))
    listing = respond(endpoint, method="GET", path=CREDENTIALS_PATH, headers=headers)
    asked.append(("GET", CREDENTIALS_PATH, listing.status, listing.body))
    # The role's own document is not fetched here: fetching it is the learner's act the lab's
    # step 4 checks for (credentials_fetch marks it), so the debugger leaves it to their curl.
    served = info.status == 200 and listing.status == 200 and listing.body.strip() == role["name"]
    chain.links.append(
        Link(
            "metadata",
            LINKS[5][1],
            served,
            "Asked just now, as an SDK asks (a token first): it names the profile and the role. "
            f"The credentials themselves are at {CREDENTIALS_PATH}{role['name']}: read them with "
            "curl on the instance (the debugger leaves that to you: it is step 4's own act)."
            if served
            else "The metadata service did not hand out a credentials document.",
            "" if served else _metadata_fix(facts, asked),
            "",
            {"asked": asked},
        )
    )
    if not served:
        return _unreached(chain, *_rest("metadata"))
    # 7. permissions
    summary, problem = _permissions(sandbox, role["name"])
    chain.links.append(
        Link(
            "permissions",
            LINKS[6][1],
            not problem,
            problem or "The role's policies, summarised.",
            ""
            if not problem
            else "Attach a permissions policy to the role: the credentials work, but may do "
            "nothing until one allows something.",
            ""
            if not problem
            else f"aws iam attach-role-policy --role-name {role['name']} --policy-arn "
            "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
            {"policies": summary},
        )
    )
    return chain


def _metadata_fix(facts: dict, asked: list) -> str:
    if facts.get("http_endpoint") == "disabled":
        return (
            "The instance's metadata endpoint is disabled: turn it on with aws ec2 "
            f"modify-instance-metadata-options --instance-id {facts['instance_id']} "
            "--http-endpoint enabled."
        )
    status = asked[-1][2]
    return f"The metadata service answered {status}. Check again in a few seconds."


def _permissions(sandbox: Sandbox, role_name: str) -> tuple[list[dict], str]:
    """Each of the role's policies with its statements in short: effect, actions, resources."""
    iam = aws_client("iam", sandbox=sandbox)
    policies = []
    try:
        for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
            policies.append({"name": name, "kind": "inline", "lines": _lines(document)})
        attached = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
        for policy in attached:
            arn = policy["PolicyArn"]
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"][
                "Document"
            ]
            policies.append(
                {
                    "name": policy["PolicyName"],
                    "kind": "managed",
                    "arn": arn,
                    "lines": _lines(document),
                }
            )
    except (ClientError, BotoCoreError) as error:
        return policies, f"The role's policies could not be read: {error}"
    if not any(line["effect"] == "Allow" for p in policies for line in p["lines"]):
        return policies, f"Role {role_name} has no policy that allows anything."
    return policies, ""


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _lines(document) -> list[dict]:
    try:
        policy = parse_policy(document)
    except ValueError:
        return []
    lines = []
    for statement in _as_list(policy.get("Statement")):
        if not isinstance(statement, dict):
            continue
        actions = _as_list(statement.get("Action")) or [
            "everything but " + ", ".join(map(str, _as_list(statement.get("NotAction"))))
        ]
        resources = _as_list(statement.get("Resource")) or [
            "everything but " + ", ".join(map(str, _as_list(statement.get("NotResource"))))
        ]
        lines.append(
            {
                "effect": str(statement.get("Effect", "")),
                "actions": ", ".join(map(str, actions)),
                "resources": ", ".join(map(str, resources)),
                "conditional": "Condition" in statement,
            }
        )
    return lines

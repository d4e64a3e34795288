"""Checks of the IMDSv2 and SSRF lab (``content/imdsv2-ssrf.toml``).

They read two things only: the instance's metadata options as EC2 reports them
(``DescribeInstances``' ``MetadataOptions``) and the metadata service's own record of the
requests it answered (``MetadataRequest``: a token presented or not, hops, status), never what
the learner typed.
"""

import functools
from collections.abc import Callable

from learnlab.imds.models import MetadataRequest
from learnlab.labs.checks import CheckResult, SandboxView, _instance_profile, check

APP_TAG = "url-preview"  # the Name tag of the lab's instance (its setup launches it)
CREDENTIALS_PATH = "/meta-data/iam/security-credentials/"


def lab_instance(view: SandboxView, tag: str) -> tuple[dict | None, str]:
    """The newest running instance tagged Name=``tag``, else the newest running one with a
    profile, with its role's name ("" without one); (None, "") when nothing runs."""
    running = [i for i in view.instances if i["State"]["Name"] == "running"]
    tagged = [i for i in running if {"Key": "Name", "Value": tag} in (i.get("Tags") or [])] or [
        i for i in running if i.get("IamInstanceProfile")
    ]
    if not tagged:
        return None, ""
    instance = tagged[0]
    profile = _instance_profile(view, instance)
    role = profile["Roles"][0]["RoleName"] if profile and profile["Roles"] else ""
    return instance, role


def instance_check(name: str, tag: str, no_instance: Callable[[], CheckResult]):
    """Register a check of the lab instance tagged Name=``tag``: the check is called with the
    view, the instance, its role's name and the facts every such check reports (instance id and
    role); when nothing runs, ``no_instance()`` answers instead."""

    def register(function):
        @check(name)
        @functools.wraps(function)
        def run(view: SandboxView) -> CheckResult:
            instance, role = lab_instance(view, tag)
            if instance is None:
                return no_instance()
            return function(
                view, instance, role, {"instance": instance["InstanceId"], "role": role}
            )

        return run

    return register


def _no_instance() -> CheckResult:
    return CheckResult(
        False,
        "No instance of this lab is running. Reset the lab to get its prepared instance back, "
        "or launch one with an instance profile and start it.",
    )


def _requests(view: SandboxView, instance: dict, role: str):
    """The metadata service's record of reads of the role's credentials on this instance since
    it was launched (a reset sandbox may see an id again), newest first."""
    return MetadataRequest.objects.filter(
        sandbox=view.sandbox,
        instance_id=instance["InstanceId"],
        at__gte=instance["LaunchTime"],
        method="GET",
        path__endswith=f"{CREDENTIALS_PATH}{role}",
    ).order_by("-id")


def _options(instance: dict) -> tuple[str, int]:
    options = instance.get("MetadataOptions") or {}
    return options.get("HttpTokens", "optional"), int(options.get("HttpPutResponseHopLimit", 1))


@instance_check("imdsv1_keys_leaked", APP_TAG, _no_instance)
def imdsv1_keys_leaked(view: SandboxView, instance: dict, role: str, facts: dict) -> CheckResult:
    """A request with no IMDSv2 token got the role's keys (the SSRF symptom)."""
    instance_id = instance["InstanceId"]
    if not role:
        return CheckResult(
            False, f"{instance_id} has no role to leak: attach a profile.", facts=facts
        )
    leaked = _requests(view, instance, role).filter(token=False, status=200).first()
    if leaked is None:
        return CheckResult(
            False,
            f"Nothing has read role {role}'s keys from {instance_id} without a token yet. Give "
            f"the URL preview app http://169.254.169.254/latest/meta-data/iam/security-"
            f"credentials/{role} (or, on the instance, curl that URL with no token header).",
            facts=facts,
        )
    how = "The URL preview app" if leaked.via == "preview" else "A request with no token"
    return CheckResult(
        True,
        f"{how} read role {role}'s keys from {instance_id}'s metadata service over "
        f"IMDSv1 at {leaked.at:%H:%M:%S} UTC: anyone who can make the app fetch a URL gets "
        f"them.",
        facts=facts | {"leaked": True},
    )


@instance_check("imdsv2_required", APP_TAG, _no_instance)
def imdsv2_required(view: SandboxView, instance: dict, role: str, facts: dict) -> CheckResult:
    """Tokens are required, a tokenless read was refused and a token read still worked."""
    instance_id = instance["InstanceId"]
    tokens, _ = _options(instance)
    if tokens != "required":
        return CheckResult(
            False,
            f"{instance_id} still answers IMDSv1 (HttpTokens is {tokens}). Require tokens: "
            f"aws ec2 modify-instance-metadata-options --instance-id {instance_id} "
            f"--http-tokens required, or Modify instance metadata options below.",
            facts=facts,
        )
    reads = _requests(view, instance, role)
    refused = reads.filter(token=False, status=401).order_by("id").first()
    if refused is None:
        return CheckResult(
            False,
            f"Tokens are required on {instance_id}. Now try the attack again: give the URL "
            f"preview app the credentials URL (or curl it on the instance with no token) and "
            f"see it refused with 401.",
            facts=facts,
        )
    worked = reads.filter(token=True, status=200, hops=1, id__gt=refused.id).first()
    if worked is None:
        return CheckResult(
            False,
            f"The tokenless read was refused (401 at {refused.at:%H:%M:%S} UTC). Now show the SDK "
            f"still works: on the instance (connect {instance_id}) run aws sts "
            f"get-caller-identity; the CLI asks for a token first (IMDSv2).",
            facts=facts,
        )
    return CheckResult(
        True,
        f"{instance_id} requires IMDSv2: a read with no token was refused (401) and one with a "
        f"session token got role {role}'s keys. A server tricked into fetching a URL cannot "
        f"send the PUT that gets a token.",
        facts=facts | {"imdsv2": True},
    )


@instance_check("hop_limit_for_containers", APP_TAG, _no_instance)
def hop_limit_for_containers(
    view: SandboxView, instance: dict, role: str, facts: dict
) -> CheckResult:
    """Tokens required and a hop limit of 2, so software in a container gets its token."""
    instance_id = instance["InstanceId"]
    tokens, hops = _options(instance)
    if tokens != "required":
        return CheckResult(
            False,
            f"{instance_id} no longer requires tokens (HttpTokens is {tokens}): keep "
            f"--http-tokens required while you raise the hop limit.",
            facts=facts,
        )
    if hops < 2:
        return CheckResult(
            False,
            f"{instance_id}'s hop limit is {hops}: a token's reply dies before it reaches a "
            f"container, whose packets cross one more hop (its bridge). Set it to 2: aws ec2 "
            f"modify-instance-metadata-options --instance-id {instance_id} "
            f"--http-put-response-hop-limit 2 --http-tokens required.",
            facts=facts,
        )
    container = (
        _requests(view, instance, role).filter(via="container", token=True, status=200).first()
    )
    seen = (
        " The SDK in the container got the keys with a token."
        if container
        else " Run the SDK in a container below to see it get a token now."
    )
    warning = (
        f"A hop limit of {hops} is more than a container needs: 2 is enough, and each extra hop "
        f"lets the token's reply travel further."
        if hops > 2
        else ""
    )
    return CheckResult(
        True,
        f"{instance_id} requires tokens with a hop limit of {hops}: a container's token "
        f"request crosses 2 hops and its reply arrives.{seen}",
        warning=warning,
        facts=facts | {"hop_limit": hops},
    )

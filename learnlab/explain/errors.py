"""Explain this error: each AWS error a learner meets in the labs, in a few plain sentences.

For each code: what the learner most likely believed (the misconception), the exam point it
touches (PRODUCT.md's EPnn), and the fix. Written for LearnLab; the facts are the lessons'.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Explanation:
    code: str
    title: str
    misconception: str
    point: str  # the exam point, e.g. "EP04"
    point_text: str
    fix: str
    steps: tuple[str, ...] = ()  # the lab steps where it is most often met (slugs)


POINTS = {
    "EP02": "A role carries a permissions policy; whoever assumes it gets temporary credentials "
    "with exactly those permissions.",
    "EP03": "EC2 can use a role only if the role's trust policy lets ec2.amazonaws.com call "
    "sts:AssumeRole.",
    "EP04": "An instance profile holds the role; the profile, not the role, is attached to an "
    "instance.",
    "EP05": "Outside the console you create the instance profile and add the role yourself.",
    "EP07": "An instance profile holds at most one role.",
    "EP08": "On the instance, credentials come from the metadata service under "
    "iam/security-credentials/<role-name>.",
    "EP10": "EC2 and STS renew instance credentials before they expire.",
    "EP11": "Re-read the metadata regularly; do not keep credentials for long.",
    "EP14": "Least privilege: grant only the actions and resources the application needs.",
    "EP15": "A profile can be attached at launch, or later by associating or replacing it.",
    "EP17": "IMDSv2 needs a session token fetched with PUT first.",
    "EP18": "Attaching a role to an instance needs iam:PassRole on that role.",
}

_ALL = [
    Explanation(
        "InvalidParameterValue",
        "A role name where EC2 wants an instance profile",
        "That you attach the role itself to the instance. EC2 never takes a role: it takes an "
        "instance profile, the container that carries the role. The console hides this by "
        "making a profile with the role's name; the CLI does not.",
        "EP04",
        POINTS["EP04"],
        "Create a profile and put the role in it (aws iam create-instance-profile, then aws "
        "iam add-role-to-instance-profile), then pass the profile's name or ARN to "
        "--iam-instance-profile.",
        ("create-instance-profile", "attach-to-instance"),
    ),
    Explanation(
        "NoSuchEntity",
        "No such role, profile, user or policy",
        "That the console's same-named profile exists here too, or that a name differs only "
        "in case or path. With the CLI nothing is made for you, and names must match exactly.",
        "EP05",
        POINTS["EP05"],
        "List what exists (aws iam list-roles, aws iam list-instance-profiles) and use the "
        "exact name; create the profile if it is missing.",
        ("create-instance-profile",),
    ),
    Explanation(
        "LimitExceeded",
        "A limit reached (often: a second role in one profile)",
        "That a profile can carry several roles. An instance profile holds at most one; a "
        "second add-role-to-instance-profile is refused.",
        "EP07",
        POINTS["EP07"],
        "Remove the role that is there (aws iam remove-role-from-instance-profile) before "
        "adding another, or use a second profile.",
        ("create-instance-profile",),
    ),
    Explanation(
        "MalformedPolicyDocument",
        "The policy document is not a valid IAM policy",
        "That any JSON will do, or that a trust policy and a permissions policy look alike. A "
        "trust policy needs a Principal (for EC2: the service ec2.amazonaws.com) and the "
        "action sts:AssumeRole; a permissions policy has no Principal at all.",
        "EP03",
        POINTS["EP03"],
        "Check the JSON (quotes, commas, Version 2012-10-17) and put the document in a file: "
        "--policy-document file://trust.json.",
        ("create-role",),
    ),
    Explanation(
        "UnauthorizedOperation",
        "EC2 refused the call: not allowed by your policies",
        "That the credentials in use have the permissions you expect. On the instance they "
        "are the role's, and the role may do only what its policies allow. The long encoded "
        "message says exactly which statement matched.",
        "EP14",
        POINTS["EP14"],
        "Decode it (aws sts decode-authorization-message --encoded-message ...), or open "
        "Explain on the denial: it lists each statement and why it did or did not apply. "
        "Then allow the action in the role's policy, for the resources the app needs.",
        ("use-credentials", "attach-to-instance"),
    ),
    Explanation(
        "AccessDenied",
        "Not allowed by your policies",
        "That having credentials means being allowed. Every call is checked against the "
        "caller's policies: with nothing allowing it, the answer is an implicit deny; a Deny "
        "statement overrides any allow. Attaching a role also needs iam:PassRole on it.",
        "EP02",
        POINTS["EP02"],
        "Open Explain on the denial to see which policy statement decided, then add an Allow "
        "for that action and resource (and remove a Deny that should not be there).",
        ("use-credentials", "attach-to-instance"),
    ),
    Explanation(
        "ExpiredToken",
        "The credentials have expired",
        "That credentials read once from the metadata service stay good. Instance credentials "
        "are temporary: EC2 and STS put a new set in the metadata before the old one "
        "expires, and it is up to the application to read it again.",
        "EP11",
        POINTS["EP11"],
        "Read the credentials again from the metadata service (or let the CLI or SDK do it "
        "through its credential chain) instead of copying them once.",
        ("watch-rotation", "use-credentials"),
    ),
    Explanation(
        "RequestExpired",
        "The request was signed too long ago (or in the future)",
        "That a signed request can be replayed later. A signature is only good for a few "
        "minutes around the time it carries.",
        "EP10",
        POINTS["EP10"],
        "Send the command again: the CLI signs each request afresh. If it keeps happening, "
        "check your computer's clock.",
        (),
    ),
    Explanation(
        "EntityAlreadyExists",
        "A role or profile of that name already exists",
        "That a step must be redone from scratch after a mistake. The role or profile you "
        "made earlier is still there.",
        "EP05",
        POINTS["EP05"],
        "Use the one that exists (aws iam get-role / get-instance-profile), or delete it "
        "first if you really want a new one.",
        ("create-role", "create-instance-profile"),
    ),
    Explanation(
        "DeleteConflict",
        "It is still in use",
        "That IAM deletes a role together with what refers to it. A role still in a profile, "
        "or with policies attached, cannot be deleted; nor a profile that still holds a role.",
        "EP04",
        POINTS["EP04"],
        "Undo the links first: remove-role-from-instance-profile, detach-role-policy and "
        "delete-role-policy, then delete the role (or the profile).",
        (),
    ),
    Explanation(
        "IncorrectInstanceState",
        "The instance is not in a state that allows this",
        "That an instance takes any change in any state. A stopped or terminated instance "
        "runs no metadata service, and some changes need it running (or stopped).",
        "EP15",
        POINTS["EP15"],
        "Check its state (aws ec2 describe-instances) and start it, or launch a new one.",
        ("attach-to-instance",),
    ),
    Explanation(
        "IncorrectState",
        "The profile association is not in a state that allows this",
        "That an instance can have two profiles at once. It has one association; to change "
        "the profile on a running instance you replace it.",
        "EP15",
        POINTS["EP15"],
        "Use aws ec2 replace-iam-instance-profile-association with the association id from "
        "describe-iam-instance-profile-associations.",
        ("attach-to-instance",),
    ),
    Explanation(
        "InvalidClientTokenId",
        "These keys are not known",
        "That credentials keep working after they are replaced or the sandbox is reset, or "
        "that keys found on an instance are the lab's.",
        "EP11",
        POINTS["EP11"],
        "Use the current keys from Your sandbox, or on the instance let the CLI read the "
        "role's credentials from the metadata service.",
        ("use-credentials",),
    ),
]

EXPLANATIONS = {e.code: e for e in _ALL}
# What the CLI prints for an encoded EC2 message, and codes with a dotted suffix.
ALIASES = {"InvalidInstanceID.NotFound": "IncorrectInstanceState"}


def explanation_for(code: str) -> Explanation | None:
    if not isinstance(code, str) or len(code) > 64:
        return None
    return EXPLANATIONS.get(code) or EXPLANATIONS.get(ALIASES.get(code, ""))

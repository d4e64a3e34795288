"""The console way: guided forms like the AWS console's, each showing the calls it made.

Every form acts through the gate as the learner's lab user, exactly as the terminal does, and
records each API call with the AWS CLI command that would make it. Lab files name forms by the
keys of ``FORMS``.
"""

import functools
import json
import re
import shlex
from dataclasses import dataclass

from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from django import forms
from moto.iam.exceptions import MalformedPolicyDocument
from moto.iam.policy_validation import IAMPolicyDocumentValidator

from learnlab.gate import fidelity
from learnlab.labs.catalog import labs_all
from learnlab.labs.checks import SandboxView
from learnlab.lib.aws_errors import AwsError
from learnlab.lib.iam_policy import EC2_TRUST_POLICY as EC2_TRUST
from learnlab.quiz.services import lab_mistake_record

EC2_TRUST_POLICY = json.dumps(json.loads(EC2_TRUST), indent=2)  # as the console shows it
INSTANCE_TYPES = ("t3.micro", "t3.small", "t2.micro", "t4g.micro", "m7i.large")
DEFAULT_INSTANCE_TYPE = INSTANCE_TYPES[0]
NO_PROFILE = ""
CLI_SERVICE = {"s3": "s3api"}
NOTHING_CREATED = "Nothing was created in your sandbox."
UNREADABLE_ANSWER = (
    "The sandbox's answer to {operation} could not be read (ResponseParserError): a value in "
    "it holds a character AWS never returns. Remove control characters from what you typed; "
    "if this keeps happening, reset the lab."
)
AWS_ERROR_CODE = re.compile(r"^An error occurred \(([^)]+)\)")


@dataclass
class ApiCall:
    service: str
    operation: str
    params: dict
    cli: str
    error: str = ""  # the AWS CLI's error line when the call failed

    @property
    def request(self) -> str:
        return json.dumps(self.params, indent=2, default=str)


class CallFailed(Exception):
    """A call AWS refused. ``outcome`` says what exists after it (set by multi-call forms)."""

    def __init__(self, call: ApiCall, field: str | None, outcome: str = ""):
        super().__init__(call.error)
        self.call, self.field, self.outcome = call, field, outcome


def aws_refusal(operation: str, code: str, message: str) -> str:
    """A refusal worded as the AWS CLI prints it."""
    return f"An error occurred ({code}) when calling the {operation} operation: {message}"


def trust_policy_problem(document: str, operation: str) -> str | None:
    """What IAM would answer to this trust policy (the gate's own rules), None if it is fine."""
    try:
        fidelity.check_trust_policy(document)
    except AwsError as error:
        return "IAM would refuse it: " + aws_refusal(operation, error.code, error.message)
    return None


def permissions_policy_problem(document: str, operation: str) -> str | None:
    """What IAM would answer to this permissions policy (moto's validator, IAM's grammar and
    wording), None if it is fine."""
    try:
        IAMPolicyDocumentValidator(document).validate()
    except MalformedPolicyDocument as error:
        message = error.message
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
        message = "Syntax errors in policy."
    else:
        return None
    return "IAM would refuse it: " + aws_refusal(operation, "MalformedPolicyDocument", message)


def _cli_value(shape, value) -> list[str]:
    if shape.type_name == "list" and all(isinstance(v, str) for v in value):
        return [shlex.quote(v) for v in value]
    if shape.type_name == "structure" and all(
        isinstance(v, str | int) and "," not in str(v) and "=" not in str(v) for v in value.values()
    ):
        return [",".join(f"{k}={v}" for k, v in value.items())]  # the CLI's shorthand
    if shape.type_name in ("structure", "list", "map"):
        return [shlex.quote(json.dumps(value))]
    return [shlex.quote(str(value))]


def cli_command(client, operation: str, params: dict) -> str:
    """The AWS CLI command that makes this call, as a learner would type it."""
    service = client.meta.service_model.service_name
    input_shape = client.meta.service_model.operation_model(operation).input_shape
    parts = ["aws", CLI_SERVICE.get(service, service), xform_name(operation, "-")]
    for name, value in params.items():
        if operation == "RunInstances" and name in ("MinCount", "MaxCount"):
            continue  # the CLI's --count, default 1
        shape = input_shape.members[name]
        flag = "--" + xform_name(name, "-")
        if shape.type_name == "boolean":
            parts.append(flag if value else flag.replace("--", "--no-", 1))
        else:
            parts += [flag, *_cli_value(shape, value)]
    return " ".join(parts)


class Recorder:
    """Makes calls through one sandbox view's clients and remembers each one."""

    def __init__(self, view: SandboxView):
        self.view = view
        self.calls: list[ApiCall] = []

    def undo(self, undos: list[tuple[str, str, dict]]) -> list[str]:
        """Make each undo call (service, operation, params), last made first; returns the
        operations that failed (what they would have removed still exists)."""
        failed = []
        for service, operation, params in reversed(undos):
            try:
                self.call(service, operation, **params)
            except CallFailed:
                failed.append(operation)
        return failed

    def call(self, service: str, operation: str, *, field: str | dict | None = None, **params):
        """Make one call; CallFailed names the form field to blame: ``field``, or
        ``field[code]`` (``field["*"]`` for any other code) for the AWS error code."""
        client = getattr(self.view, service)
        record = ApiCall(service, operation, params, cli_command(client, operation, params))
        self.calls.append(record)
        try:
            return getattr(client, xform_name(operation))(**params)
        except ClientError as error:
            details = error.response.get("Error", {})
            record.error = (
                f"An error occurred ({details.get('Code', 'Unknown')}) when calling the "
                f"{operation} operation: {details.get('Message', '')}"
            )
            if isinstance(field, dict):
                field = field.get(details.get("Code", ""), field.get("*"))
        except BotoCoreError as error:
            record.error = str(error)
            if isinstance(field, dict):
                field = field.get("*")
        except ResponseParserError:
            # An answer botocore cannot read (not a BotoCoreError): a value the sandbox kept
            # and echoed raw. A failure like any other, so the form's undo runs.
            record.error = UNREADABLE_ANSWER.format(operation=operation)
            if isinstance(field, dict):
                field = field.get("*")
        raise CallFailed(record, field)


class ConsoleForm(forms.Form):
    """A console page: fields, then ``apply`` makes the calls and returns what happened.

    ``selected`` holds the choices the learner made before the fields were fetched (a role
    picked in a select that the rest of the form follows), by unprefixed field name.
    """

    name = ""
    title = ""
    submit = ""
    intro = ""
    current: list[str] = []  # what the selected resource has now, shown above the fields
    current_title = ""
    nothing_done = "Nothing was changed in your sandbox."  # said when the form is refused

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "apply" in cls.__dict__:
            cls.apply = _feeds_practice(cls.__dict__["apply"])

    def __init__(self, *args, view: SandboxView, selected: dict | None = None, **kwargs):
        super().__init__(*args, prefix=self.name, **kwargs)
        self.view = view
        self.selected = selected or {}
        self.current = []

    def apply(self, recorder: Recorder) -> str:
        raise NotImplementedError


def _feeds_practice(apply):
    """An AWS error met in a form makes the quiz items on its step's exam points due."""

    @functools.wraps(apply)
    def applying(form: "ConsoleForm", recorder: Recorder) -> str:
        try:
            return apply(form, recorder)
        except CallFailed as failure:
            code = AWS_ERROR_CODE.match(failure.call.error)
            if code:  # AWS refused the call (not the connection failing)
                for lab in labs_all().values():
                    for step in lab.steps:
                        if form.name in step.forms:
                            lab_mistake_record(
                                learner=recorder.view.sandbox.learner,
                                lab=lab.slug,
                                step=step.number,
                                points=step.points,
                                source="console",
                                reason=code[1],
                                message=failure.call.error,
                            )
            raise

    return applying


def _json_field(label: str, help_text: str, *, required: bool, initial: str = ""):
    return forms.CharField(
        label=label,
        help_text=help_text,
        required=required,
        initial=initial,
        widget=forms.Textarea(attrs={"rows": 9, "spellcheck": "false", "class": "code"}),
    )


# AWS-managed policies (ListPolicies Scope=AWS) are moto's bundled data, the same names and ARNs in
# every sandbox and unchanged by anything a learner does (their own policies are Scope=Local):
# asked once per process, not on every lab page (about 40 ms each). A failed ask is not kept.
_managed_policies: list[tuple[str, str]] = []


def _managed_policy_choices(view: SandboxView) -> list[tuple[str, str]]:
    if _managed_policies:
        return list(_managed_policies)
    try:
        policies = view.iam.list_policies(Scope="AWS")["Policies"]
    except (ClientError, BotoCoreError):
        return []
    _managed_policies[:] = sorted((p["Arn"], p["PolicyName"]) for p in policies)
    return list(_managed_policies)


def _role_choices(view: SandboxView) -> list[tuple[str, str]]:
    return [(r["RoleName"], r["RoleName"]) for r in view.roles] or [("", "No roles yet")]


def _profile_choices(view: SandboxView) -> list[tuple[str, str]]:
    choices = []
    for profile in view.instance_profiles:
        roles = ", ".join(r["RoleName"] for r in profile["Roles"]) or "no role"
        name = profile["InstanceProfileName"]
        choices.append((name, f"{name} (role: {roles})"))
    return choices


def _role_select(view: SandboxView, selected: dict) -> tuple[forms.ChoiceField, str]:
    """The role select of a form that follows it (its other fields show that role), and the
    role it starts on: the one the learner picked, else the newest."""
    choices = _role_choices(view)
    names = [value for value, _ in choices if value]
    chosen = selected.get("role_name") if selected.get("role_name") in names else ""
    chosen = chosen or (names[0] if names else "")
    field = forms.ChoiceField(
        label="Role",
        choices=choices,
        initial=chosen,
        widget=forms.Select(attrs={"data-follow": "role_name"}),
        help_text="The fields below show this role as it is now.",
    )
    return field, chosen


class _Permissions(ConsoleForm):
    """Managed policies to attach and an optional inline policy."""

    def _init_permissions(self, attached: tuple[str, ...] = ()):
        choices = _managed_policy_choices(self.view)
        self.fields["managed_policies"] = forms.MultipleChoiceField(
            label="AWS managed policies",
            choices=[
                (arn, f"{name} (attached)" if arn in attached else name) for arn, name in choices
            ],
            required=False,
            widget=forms.CheckboxSelectMultiple,
            help_text="Policies AWS maintains. Choose the least the application needs.",
        )
        self.fields["inline_policy"] = _json_field(
            "Inline policy (optional)",
            "A permissions policy written into this role only, as JSON.",
            required=False,
        )

    def _clean_inline_policy(self, data: dict) -> None:
        document = data.get("inline_policy", "")
        if document.strip():
            problem = permissions_policy_problem(document, "PutRolePolicy")
            if problem:
                self.add_error("inline_policy", problem)

    def _apply_permissions(
        self, recorder: Recorder, role_name: str, undos: list, added: list[str]
    ) -> None:
        """Attach and put; each success goes on ``undos`` (its undo) and ``added`` (its name)."""
        for arn in self.cleaned_data["managed_policies"]:
            recorder.call(
                "iam",
                "AttachRolePolicy",
                field="managed_policies",
                RoleName=role_name,
                PolicyArn=arn,
            )
            undos.append(("iam", "DetachRolePolicy", {"RoleName": role_name, "PolicyArn": arn}))
            added.append(f"managed policy {arn.rsplit('/', 1)[-1]}")
        if self.cleaned_data["inline_policy"].strip():
            policy_name = f"{role_name}-inline"
            recorder.call(
                "iam",
                "PutRolePolicy",
                field="inline_policy",
                RoleName=role_name,
                PolicyName=policy_name,
                PolicyDocument=self.cleaned_data["inline_policy"],
            )
            undos.append(
                ("iam", "DeleteRolePolicy", {"RoleName": role_name, "PolicyName": policy_name})
            )
            added.append(f"inline policy {policy_name}")


def _said(items: list[str]) -> str:
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1]


class RoleForEc2(_Permissions):
    name = "role_for_ec2"
    title = "Create role"
    submit = "Create role"
    nothing_done = NOTHING_CREATED
    intro = (
        "Trusted entity: AWS service, use case EC2. Like the AWS console, this also creates an "
        "instance profile with the same name and puts the role in it."
    )

    role_name = forms.RegexField(
        label="Role name",
        regex=r"^[\w+=,.@-]{1,64}$",
        error_messages={
            "invalid": "Use up to 64 letters, digits and + = , . @ _ - (no spaces).",
        },
    )
    description = forms.CharField(
        label="Description", required=False, initial="Allows EC2 instances to call AWS services."
    )
    trust_policy = _json_field(
        "Trust policy",
        "Who may assume the role. For an instance role: the service ec2.amazonaws.com.",
        required=True,
        initial=EC2_TRUST_POLICY,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_permissions()

    def clean(self):
        """Every document is checked as IAM would before any call: a refused one leaves
        nothing half-made (a role without its policy or profile)."""
        data = super().clean()
        if data.get("trust_policy"):
            problem = trust_policy_problem(data["trust_policy"], "CreateRole")
            if problem:
                self.add_error("trust_policy", problem)
        self._clean_inline_policy(data)
        return data

    def apply(self, recorder: Recorder) -> str:
        data = self.cleaned_data
        name = data["role_name"]
        undos: list[tuple[str, str, dict]] = []
        try:
            recorder.call(
                "iam",
                "CreateRole",
                field={"EntityAlreadyExists": "role_name", "*": "trust_policy"},
                RoleName=name,
                AssumeRolePolicyDocument=data["trust_policy"],
                Description=data["description"],
            )
            undos.append(("iam", "DeleteRole", {"RoleName": name}))
            self._apply_permissions(recorder, name, undos, [])
            recorder.call(
                "iam", "CreateInstanceProfile", field="role_name", InstanceProfileName=name
            )
            undos.append(("iam", "DeleteInstanceProfile", {"InstanceProfileName": name}))
            recorder.call(
                "iam", "AddRoleToInstanceProfile", InstanceProfileName=name, RoleName=name
            )
        except CallFailed as failure:
            failure.outcome = self._undo(recorder, undos, name, failure)
            raise
        return (
            f"Role {name} created. The console also created instance profile {name}, with the "
            f"same name, and added the role to it: when you pick a role for an instance in the "
            f"console, it is really this profile you attach (EP05, EP06)."
        )

    def _undo(self, recorder: Recorder, undos: list, name: str, failure: CallFailed) -> str:
        """Take back what this attempt made, so a retry starts clean; say what is left."""
        if not undos:
            return f"{NOTHING_CREATED} Fix what is marked and press {self.submit} again."
        failed = recorder.undo(undos)
        if not failed:
            return (
                f"{failure.call.operation} failed, so the calls before it were undone (see "
                f"below): {NOTHING_CREATED} Fix what is marked and press {self.submit} again."
            )
        return (
            f"The role {name} still exists: {failure.call.operation} failed and undoing "
            f"{_said(failed)} failed too. Delete it in the terminal (aws iam delete-role "
            f"--role-name {name}, after removing its policies) or choose another name."
        )


class RoleTrust(ConsoleForm):
    name = "role_trust"
    title = "Edit trust policy"
    submit = "Update policy"
    intro = (
        "Replace a role's trust policy: who may assume the role. The editor shows the chosen "
        "role's current policy."
    )

    trust_policy = _json_field("Trust policy", "", required=True, initial=EC2_TRUST_POLICY)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role_name"], chosen = _role_select(self.view, self.selected)
        self.order_fields(["role_name", "trust_policy"])
        role = next((r for r in self.view.roles if r["RoleName"] == chosen), None)
        if role is not None:
            document = role.get("AssumeRolePolicyDocument")
            if document:
                if isinstance(document, str):
                    document = json.loads(document)
                self.initial["trust_policy"] = json.dumps(document, indent=2)
            self.fields["trust_policy"].help_text = f"The trust policy of {chosen} now."

    def clean(self):
        data = super().clean()
        if data.get("trust_policy"):
            problem = trust_policy_problem(data["trust_policy"], "UpdateAssumeRolePolicy")
            if problem:
                self.add_error("trust_policy", problem)
        return data

    def apply(self, recorder: Recorder) -> str:
        name = self.cleaned_data["role_name"]
        recorder.call(
            "iam",
            "UpdateAssumeRolePolicy",
            field="trust_policy",
            RoleName=name,
            PolicyDocument=self.cleaned_data["trust_policy"],
        )
        return f"Trust policy of {name} updated."


class RolePermissions(_Permissions):
    name = "role_permissions"
    title = "Add permissions"
    submit = "Add permissions"
    intro = "Attach managed policies to a role, or add an inline policy."

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role_name"], chosen = _role_select(self.view, self.selected)
        attached: tuple[str, ...] = ()
        if chosen:
            try:
                managed = self.view.iam.list_attached_role_policies(RoleName=chosen)
                inline = self.view.iam.list_role_policies(RoleName=chosen)["PolicyNames"]
            except ClientError:
                managed, inline = {"AttachedPolicies": []}, []  # deleted meanwhile
            attached = tuple(p["PolicyArn"] for p in managed["AttachedPolicies"])
            self.current = [
                *(f"Managed policy {p['PolicyName']}" for p in managed["AttachedPolicies"]),
                *(f"Inline policy {name}" for name in inline),
            ] or [f"{chosen} has no permissions policy yet."]
            self.current_title = f"Attached to {chosen} now"
        self._init_permissions(attached)
        self.order_fields(["role_name", "managed_policies", "inline_policy"])

    def clean(self):
        data = super().clean()
        if not data.get("managed_policies") and not data.get("inline_policy", "").strip():
            raise forms.ValidationError("Choose a managed policy or write an inline policy.")
        self._clean_inline_policy(data)
        return data

    def apply(self, recorder: Recorder) -> str:
        name = self.cleaned_data["role_name"]
        added: list[str] = []
        try:
            self._apply_permissions(recorder, name, [], added)
        except CallFailed as failure:
            failure.outcome = (
                f"{_said(added)} {'was' if len(added) == 1 else 'were'} added to {name}; "
                f"{failure.call.operation} failed, so nothing after it was added."
                if added
                else f"Nothing was added to {name}."
            )
            raise
        return f"Added to {name}: {_said(added)}."


class LaunchInstance(ConsoleForm):
    name = "launch_instance"
    title = "Launch an instance"
    submit = "Launch instance"
    intro = "Advanced details → IAM instance profile lists instance profiles, not roles."

    instance_name = forms.CharField(label="Name", required=False, initial="web")
    instance_type = forms.ChoiceField(label="Instance type", initial=DEFAULT_INSTANCE_TYPE)
    image_id = forms.ChoiceField(
        label="Amazon Machine Image (AMI)",
        help_text="The AMI's architecture must be one the instance type runs.",
    )
    profile = forms.ChoiceField(label="IAM instance profile", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            images = self.view.ec2.describe_images(Owners=["amazon"])["Images"]
            types = self.view.ec2.describe_instance_types(InstanceTypes=list(INSTANCE_TYPES))
        except (ClientError, BotoCoreError):
            images, types = [], {"InstanceTypes": []}
        self.architectures = {
            t["InstanceType"]: tuple(t["ProcessorInfo"]["SupportedArchitectures"])
            for t in types["InstanceTypes"]
        }
        self.image_architecture = {i["ImageId"]: i.get("Architecture", "") for i in images}
        self.fields["instance_type"].choices = [
            (t, f"{t} ({', '.join(self.architectures[t])})" if t in self.architectures else t)
            for t in INSTANCE_TYPES
        ]
        self.fields["image_id"].choices = sorted(
            (
                (i["ImageId"], f"{i.get('Description') or i['Name']} ({i['ImageId']})")
                for i in images
            ),
            key=lambda c: c[1],
        )
        # The default AMI is one the default type runs (the first such in the list).
        fits = self.architectures.get(DEFAULT_INSTANCE_TYPE, ("x86_64",))
        self.initial["image_id"] = next(
            (i for i, _ in self.fields["image_id"].choices if self.image_architecture[i] in fits),
            None,
        )
        self.fields["profile"].choices = [
            (NO_PROFILE, "No IAM instance profile"),
            *_profile_choices(self.view),
        ]

    def clean(self):
        data = super().clean()
        image, kind = data.get("image_id"), data.get("instance_type")
        architecture = self.image_architecture.get(image)
        runs = self.architectures.get(kind)
        if image and kind and architecture and runs and architecture not in runs:
            self.add_error(
                "image_id",
                f"{image} is an {architecture} image and {kind} runs {' or '.join(runs)} only. "
                f"Choose an {' or '.join(runs)} AMI, or an instance type that runs {architecture}.",
            )
        return data

    def apply(self, recorder: Recorder) -> str:
        data = self.cleaned_data
        params = {
            "ImageId": data["image_id"],
            "InstanceType": data["instance_type"],
            "MinCount": 1,
            "MaxCount": 1,
        }
        if data["profile"]:
            params["IamInstanceProfile"] = {"Name": data["profile"]}
        if data["instance_name"]:
            params["TagSpecifications"] = [
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": "Name", "Value": data["instance_name"]}],
                }
            ]
        blame = {"InvalidAMIID.NotFound": "image_id", "InvalidAMIID.Malformed": "image_id"}
        reply = recorder.call("ec2", "RunInstances", field=blame | {"*": "profile"}, **params)
        instance_id = reply["Instances"][0]["InstanceId"]
        with_profile = f" with profile {data['profile']}" if data["profile"] else " with no profile"
        return f"Instance {instance_id} launched{with_profile}."


class ModifyInstanceRole(ConsoleForm):
    name = "modify_instance_role"
    title = "Modify IAM role"
    submit = "Update IAM role"
    intro = (
        "Actions → Security → Modify IAM role: attach, replace or remove a running instance's "
        "instance profile."
    )

    instance_id = forms.ChoiceField(label="Instance")
    profile = forms.ChoiceField(label="IAM instance profile", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instance_id"].choices = [
            (i["InstanceId"], f"{i['InstanceId']} ({i['State']['Name']})")
            for i in self.view.instances
            if i["State"]["Name"] not in ("terminated", "shutting-down")
        ] or [("", "No instances yet")]
        self.fields["profile"].choices = [
            (NO_PROFILE, "No IAM instance profile (remove)"),
            *_profile_choices(self.view),
        ]

    def apply(self, recorder: Recorder) -> str:
        instance_id, profile = self.cleaned_data["instance_id"], self.cleaned_data["profile"]
        current = recorder.call(
            "ec2",
            "DescribeIamInstanceProfileAssociations",
            Filters=[{"Name": "instance-id", "Values": [instance_id]}],
        )["IamInstanceProfileAssociations"]
        current = [a for a in current if a["State"] in ("associated", "associating")]
        if not profile:
            if not current:
                return f"{instance_id} has no instance profile: nothing to remove."
            recorder.call(
                "ec2", "DisassociateIamInstanceProfile", AssociationId=current[0]["AssociationId"]
            )
            return f"Instance profile removed from {instance_id}."
        if current:
            recorder.call(
                "ec2",
                "ReplaceIamInstanceProfileAssociation",
                field="profile",
                IamInstanceProfile={"Name": profile},
                AssociationId=current[0]["AssociationId"],
            )
            return f"{instance_id} now uses instance profile {profile} (replaced)."
        recorder.call(
            "ec2",
            "AssociateIamInstanceProfile",
            field="profile",
            IamInstanceProfile={"Name": profile},
            InstanceId=instance_id,
        )
        return f"Instance profile {profile} attached to {instance_id}."


FORMS: dict[str, type[ConsoleForm]] = {
    form.name: form
    for form in (RoleForEc2, RoleTrust, RolePermissions, LaunchInstance, ModifyInstanceRole)
}

# The later labs' forms add themselves to FORMS here.
from learnlab.labs import console_more  # noqa: E402, F401

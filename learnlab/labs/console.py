"""The console way: guided forms like the AWS console's, each showing the calls it made.

Every form acts through the gate as the learner's lab user, exactly as the terminal does, and
records each API call with the AWS CLI command that would make it. Lab files name forms by the
keys of ``FORMS``.
"""

import json
import shlex
from dataclasses import dataclass

from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError
from django import forms

from learnlab.labs.checks import SandboxView
from learnlab.lib.iam_policy import EC2_TRUST_POLICY as EC2_TRUST

EC2_TRUST_POLICY = json.dumps(json.loads(EC2_TRUST), indent=2)  # as the console shows it
INSTANCE_TYPES = ("t3.micro", "t3.small", "t2.micro", "m7i.large")
NO_PROFILE = ""
CLI_SERVICE = {"s3": "s3api"}


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
    def __init__(self, call: ApiCall, field: str | None):
        super().__init__(call.error)
        self.call, self.field = call, field


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

    def call(self, service: str, operation: str, *, field: str | None = None, **params):
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
        except BotoCoreError as error:
            record.error = str(error)
        raise CallFailed(record, field)


class ConsoleForm(forms.Form):
    """A console page: fields, then ``apply`` makes the calls and returns what happened."""

    name = ""
    title = ""
    submit = ""
    intro = ""

    def __init__(self, *args, view: SandboxView, **kwargs):
        super().__init__(*args, prefix=self.name, **kwargs)
        self.view = view

    def apply(self, recorder: Recorder) -> str:
        raise NotImplementedError


def _json_field(label: str, help_text: str, *, required: bool, initial: str = ""):
    return forms.CharField(
        label=label,
        help_text=help_text,
        required=required,
        initial=initial,
        widget=forms.Textarea(attrs={"rows": 9, "spellcheck": "false", "class": "code"}),
    )


def _managed_policy_choices(view: SandboxView) -> list[tuple[str, str]]:
    try:
        policies = view.iam.list_policies(Scope="AWS")["Policies"]
    except (ClientError, BotoCoreError):
        return []
    return sorted((p["Arn"], p["PolicyName"]) for p in policies)


def _role_choices(view: SandboxView) -> list[tuple[str, str]]:
    return [(r["RoleName"], r["RoleName"]) for r in view.roles] or [("", "No roles yet")]


def _profile_choices(view: SandboxView) -> list[tuple[str, str]]:
    choices = []
    for profile in view.instance_profiles:
        roles = ", ".join(r["RoleName"] for r in profile["Roles"]) or "no role"
        name = profile["InstanceProfileName"]
        choices.append((name, f"{name} (role: {roles})"))
    return choices


class _Permissions(ConsoleForm):
    """Managed policies to attach and an optional inline policy."""

    def _init_permissions(self):
        self.fields["managed_policies"] = forms.MultipleChoiceField(
            label="AWS managed policies",
            choices=_managed_policy_choices(self.view),
            required=False,
            widget=forms.CheckboxSelectMultiple,
            help_text="Policies AWS maintains. Choose the least the application needs.",
        )
        self.fields["inline_policy"] = _json_field(
            "Inline policy (optional)",
            "A permissions policy written into this role only, as JSON.",
            required=False,
        )

    def _apply_permissions(self, recorder: Recorder, role_name: str) -> None:
        for arn in self.cleaned_data["managed_policies"]:
            recorder.call("iam", "AttachRolePolicy", RoleName=role_name, PolicyArn=arn)
        if self.cleaned_data["inline_policy"].strip():
            recorder.call(
                "iam",
                "PutRolePolicy",
                field="inline_policy",
                RoleName=role_name,
                PolicyName=f"{role_name}-inline",
                PolicyDocument=self.cleaned_data["inline_policy"],
            )


class RoleForEc2(_Permissions):
    name = "role_for_ec2"
    title = "Create role"
    submit = "Create role"
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

    def apply(self, recorder: Recorder) -> str:
        data = self.cleaned_data
        name = data["role_name"]
        recorder.call(
            "iam",
            "CreateRole",
            field="trust_policy",
            RoleName=name,
            AssumeRolePolicyDocument=data["trust_policy"],
            Description=data["description"],
        )
        self._apply_permissions(recorder, name)
        recorder.call("iam", "CreateInstanceProfile", InstanceProfileName=name)
        recorder.call("iam", "AddRoleToInstanceProfile", InstanceProfileName=name, RoleName=name)
        return (
            f"Role {name} created. The console also created instance profile {name}, with the "
            f"same name, and added the role to it: when you pick a role for an instance in the "
            f"console, it is really this profile you attach (EP05, EP06)."
        )


class RoleTrust(ConsoleForm):
    name = "role_trust"
    title = "Edit trust policy"
    submit = "Update policy"
    intro = "Replace a role's trust policy: who may assume the role."

    role_name = forms.ChoiceField(label="Role")
    trust_policy = _json_field("Trust policy", "", required=True, initial=EC2_TRUST_POLICY)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role_name"].choices = _role_choices(self.view)

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

    role_name = forms.ChoiceField(label="Role")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role_name"].choices = _role_choices(self.view)
        self._init_permissions()

    def clean(self):
        data = super().clean()
        if not data.get("managed_policies") and not data.get("inline_policy", "").strip():
            raise forms.ValidationError("Choose a managed policy or write an inline policy.")
        return data

    def apply(self, recorder: Recorder) -> str:
        self._apply_permissions(recorder, self.cleaned_data["role_name"])
        return f"Permissions added to {self.cleaned_data['role_name']}."


class LaunchInstance(ConsoleForm):
    name = "launch_instance"
    title = "Launch an instance"
    submit = "Launch instance"
    intro = "Advanced details → IAM instance profile lists instance profiles, not roles."

    instance_name = forms.CharField(label="Name", required=False, initial="web")
    image_id = forms.ChoiceField(label="Amazon Machine Image (AMI)")
    instance_type = forms.ChoiceField(
        label="Instance type", choices=[(t, t) for t in INSTANCE_TYPES]
    )
    profile = forms.ChoiceField(label="IAM instance profile", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            images = self.view.ec2.describe_images(Owners=["amazon"])["Images"]
        except (ClientError, BotoCoreError):
            images = []
        self.fields["image_id"].choices = sorted(
            (
                (i["ImageId"], f"{i.get('Description') or i['Name']} ({i['ImageId']})")
                for i in images
            ),
            key=lambda c: c[1],
        )
        self.fields["profile"].choices = [
            (NO_PROFILE, "No IAM instance profile"),
            *_profile_choices(self.view),
        ]

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
        reply = recorder.call("ec2", "RunInstances", field="profile", **params)
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

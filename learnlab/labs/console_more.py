"""Console forms of the labs after the core one (IMDSv2 and SSRF, least privilege, swap the
role): the same ``ConsoleForm`` pattern as ``console.py``, added to its ``FORMS``.

Two of them are not AWS console pages but the lab's own apps on the instance (``preview.py``):
the vulnerable URL preview and an SDK run from a container. They make no AWS call; what they
did is what the metadata service recorded.
"""

from django import forms

from learnlab.labs import preview
from learnlab.labs.console import FORMS, ConsoleForm, Recorder


def _instance_choices(view) -> list[tuple[str, str]]:
    return [
        (i["InstanceId"], f"{i['InstanceId']} ({i['State']['Name']})")
        for i in view.instances
        if i["State"]["Name"] not in ("terminated", "shutting-down")
    ] or [("", "No instances yet")]


class _OnInstance(ConsoleForm):
    instance_id = forms.ChoiceField(label="Instance")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instance_id"].choices = _instance_choices(self.view)

    def clean_instance_id(self):
        value = self.cleaned_data["instance_id"]
        if not value:
            raise forms.ValidationError("Your sandbox has no instance yet: launch one first.")
        return value


class UrlPreview(_OnInstance):
    name = "url_preview"
    title = "URL preview app (on the instance)"
    submit = "Preview"
    intro = (
        "A small web app running on your instance: give it a URL and it fetches the page "
        "from the instance and shows it, the way a link preview does. It sends a plain GET "
        "with no headers of its own."
    )
    nothing_done = "The app fetched nothing."

    url = forms.CharField(
        label="URL to preview",
        max_length=2000,
        initial="http://169.254.169.254/latest/meta-data/",
        widget=forms.TextInput(attrs={"spellcheck": "false", "class": "code"}),
    )

    def clean_url(self):
        value = self.cleaned_data["url"]
        try:
            preview.preview_target(value)
        except preview.PreviewRefused as refused:
            raise forms.ValidationError(str(refused)) from refused
        return value

    def apply(self, recorder: Recorder) -> str:
        shown = preview.preview_fetch(
            sandbox=self.view.sandbox,
            instance_id=self.cleaned_data["instance_id"],
            url=self.cleaned_data["url"],
        )
        return f"The app fetched {shown.url}: HTTP {shown.status}. It shows: {shown.body}"


class MetadataOptions(_OnInstance):
    name = "metadata_options"
    title = "Modify instance metadata options"
    submit = "Save"
    intro = (
        "Actions → Instance settings → Modify instance metadata options: whether IMDSv2 "
        "tokens are required, and how many network hops a token's reply may cross."
    )

    http_tokens = forms.ChoiceField(
        label="IMDSv2",
        choices=[("optional", "Optional (IMDSv1 still answers)"), ("required", "Required")],
    )
    hop_limit = forms.IntegerField(
        label="Metadata response hop limit",
        min_value=1,
        max_value=64,
        initial=1,
        help_text="1 to 64. Software in a container on the instance needs 2.",
    )

    def apply(self, recorder: Recorder) -> str:
        instance_id = self.cleaned_data["instance_id"]
        answer = recorder.call(
            "ec2",
            "ModifyInstanceMetadataOptions",
            field={"*": "instance_id"},
            InstanceId=instance_id,
            HttpTokens=self.cleaned_data["http_tokens"],
            HttpPutResponseHopLimit=self.cleaned_data["hop_limit"],
        )
        options = answer.get("InstanceMetadataOptions", {})
        return (
            f"{instance_id}: IMDSv2 {options.get('HttpTokens', self.cleaned_data['http_tokens'])}"
            f", hop limit {options.get('HttpPutResponseHopLimit', self.cleaned_data['hop_limit'])}."
        )


class ContainerSdk(_OnInstance):
    name = "container_sdk"
    title = "Run the SDK in a container (on the instance)"
    submit = "Run in container"
    intro = (
        "Runs an AWS SDK's credential lookup (botocore's own) inside a container on your "
        "instance. Its requests to the metadata service cross one more network hop, the "
        "container's bridge: the lab simulates that hop."
    )
    nothing_done = "The SDK found no credentials."

    def apply(self, recorder: Recorder) -> str:
        run = preview.container_sdk_run(
            sandbox=self.view.sandbox, instance_id=self.cleaned_data["instance_id"]
        )
        steps = "; ".join(run.steps) or "no request answered"
        if run.access_key_id:
            return f"The SDK in the container got credentials: {run.access_key_id} ({steps})."
        return f"The SDK in the container found no credentials ({steps})."


FORMS.update({form.name: form for form in (UrlPreview, MetadataOptions, ContainerSdk)})

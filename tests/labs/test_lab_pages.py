"""The lab page, its Check buttons, console forms and reset, through Django's test client against
the real sandbox server."""

import pytest
from django.utils import timezone
from django.utils.html import escape

from learnlab.gate.client import aws_client
from learnlab.labs.catalog import lab_get
from learnlab.labs.models import StepResult
from learnlab.learners.models import Learner
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.models import Sandbox

HTMX = {"HTTP_HX_REQUEST": "true"}
LAB = "/lab/instance-role/"


@pytest.fixture
def lab_client(client, sandbox_server, db):
    assert client.get(LAB).status_code == 200  # first visit: a learner and a sandbox
    return client


def _sandbox(client) -> Sandbox:
    return Sandbox.objects.get(learner_id=client.session["learner_id"])


def _create_role(client, **overrides):
    data = {
        "role_for_ec2-role_name": "S3ReadForEC2",
        "role_for_ec2-description": "read S3",
        "role_for_ec2-trust_policy": EC2_TRUST_POLICY,
        "role_for_ec2-managed_policies": ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
    } | overrides
    return client.post(f"{LAB}console/role_for_ec2", data, **HTMX)


def test_the_lab_index_opens_the_only_lab(client, monkeypatch, tmp_path):
    """With one lab file in the content folder, /lab/ goes straight to it. The catalog keeps
    what it read per folder (``_labs_in``'s cache is keyed by the folder), so another folder
    is read afresh."""
    from learnlab.labs import catalog

    (tmp_path / "instance-role.toml").write_text(
        (catalog.LAB_DIR / "instance-role.toml").read_text()
    )
    monkeypatch.setattr(catalog, "LAB_DIR", tmp_path)
    assert list(catalog.labs_all()) == ["instance-role"]
    response = client.get("/lab/")
    assert response.status_code == 302 and response["Location"] == LAB


def test_the_lab_index_lists_every_lab_of_the_content_folder(client, db):
    from learnlab.labs.catalog import labs_all

    labs = labs_all()
    assert len(labs) > 1  # the project's own labs
    page = client.get("/lab/")
    assert page.status_code == 200
    text = page.content.decode()
    for lab in labs.values():
        assert f'href="/lab/{lab.slug}/">{escape(lab.title)}</a>' in text


def test_the_lab_page_shows_every_step_with_hint_and_solution(lab_client):
    page = lab_client.get(LAB).content.decode()
    steps = lab_get("instance-role").steps
    assert len(steps) == 6
    for step in steps:
        section = page.split(f'<section id="{step.anchor}"', 1)[1].split("</section>", 1)[0]
        assert f"Step {step.number}: {escape(step.title)}</h2>" in section
        assert f"Check step {step.number}</button>" in section
        assert f"<summary>Hint</summary>{step.hint}</details>" in section
        assert step.solutions["console"] in section and step.solutions["cli"] in section
    assert page.count("<summary>Hint</summary>") == 6
    assert page.count("<summary>Show me</summary>") == 6
    assert 'aria-current="step"' in page
    assert "No role yet." in page  # the diagram's text alternative


def test_the_console_creates_the_role_and_the_same_named_profile_and_shows_its_calls(
    lab_client,
):
    response = _create_role(lab_client)
    page = response.content.decode()
    assert response.status_code == 200
    assert "also created instance profile S3ReadForEC2" in page
    for cli in (
        "aws iam create-role --role-name S3ReadForEC2",
        "aws iam attach-role-policy --role-name S3ReadForEC2 --policy-arn",
        "aws iam create-instance-profile --instance-profile-name S3ReadForEC2",
        "aws iam add-role-to-instance-profile --instance-profile-name S3ReadForEC2",
    ):
        assert cli in page
    assert "IAM CreateRole" in page
    assert '"lab-changed"' in response["HX-Trigger"]
    iam = aws_client("iam", sandbox=_sandbox(lab_client))
    profile = iam.get_instance_profile(InstanceProfileName="S3ReadForEC2")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["S3ReadForEC2"]


def test_the_trust_policy_editor_shows_aws_validation_messages_and_keeps_the_input(lab_client):
    response = _create_role(lab_client, **{"role_for_ec2-trust_policy": '{"Statement": ['})
    page = response.content.decode()
    assert "An error occurred (MalformedPolicyDocument) when calling the CreateRole" in page
    assert "This policy contains invalid Json" in page
    assert "{&quot;Statement&quot;: [" in page  # what the learner typed is still there
    assert "HX-Trigger" not in response  # nothing changed in the sandbox


def test_a_bad_role_name_is_refused_before_any_call(lab_client):
    response = _create_role(lab_client, **{"role_for_ec2-role_name": "has spaces"})
    assert "Use up to 64 letters" in response.content.decode()
    assert "CreateRole" not in response.content.decode()


def test_the_launch_form_offers_profiles_not_roles(lab_client):
    iam = aws_client("iam", sandbox=_sandbox(lab_client))
    iam.create_instance_profile(InstanceProfileName="only-a-profile")
    iam.create_role(RoleName="only-a-role", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    fields = lab_client.get(f"{LAB}console/launch_instance", **HTMX).content.decode()
    assert "only-a-profile (role: no role)" in fields
    assert "only-a-role" not in fields


def test_checks_are_stored_and_the_learner_resumes_at_the_first_unpassed_step(lab_client):
    failed = lab_client.post(f"{LAB}steps/create-role/check", **HTMX)
    assert "Not yet." in failed.content.decode()
    _create_role(lab_client)
    passed = lab_client.post(f"{LAB}steps/create-role/check", **HTMX)
    assert "Passed." in passed.content.decode()
    learner = Learner.objects.get(pk=lab_client.session["learner_id"])
    result = StepResult.objects.get(learner=learner, step="create-role")
    assert result.passed and result.attempts == 2
    progress = lab_client.get(f"{LAB}progress", **HTMX).content.decode()
    assert 'href="#step-2" aria-current="step"' in progress


def test_reset_lab_empties_the_sandbox_and_the_results(lab_client):
    _create_role(lab_client)
    lab_client.post(f"{LAB}steps/create-role/check", **HTMX)
    sandbox = _sandbox(lab_client)
    response = lab_client.post(f"{LAB}reset")
    assert response.status_code == 302
    assert not StepResult.objects.filter(learner=sandbox.learner).exists()
    assert aws_client("iam", sandbox=sandbox).list_roles()["Roles"] == []


@pytest.mark.parametrize(
    "path",
    [
        f"{LAB}console/teleport",
        f"{LAB}steps/no-such-step/check",
        "/lab/no-such-lab/",
    ],
)
def test_unknown_forms_steps_and_labs_are_404s(lab_client, path):
    method = lab_client.get if path.endswith("/") else lab_client.post
    assert method(path).status_code == 404


def test_a_form_post_without_a_csrf_token_is_refused(sandbox_server, db):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.get(LAB)
    assert strict.post(f"{LAB}console/role_for_ec2", {}).status_code == 403


def test_the_lab_says_so_plainly_when_the_sandbox_server_is_down(lab_client, settings):
    from tests.helpers import free_port

    settings.LEARNLAB_SANDBOX_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens
    page = lab_client.get(LAB)
    assert page.status_code == 200
    # A short "reconnecting" state that retries by itself, not an error.
    assert 'data-testid="reconnecting"' in page.content.decode()
    assert f'hx-get="{LAB}" hx-trigger="every 2s"' in page.content.decode()
    results_before = list(StepResult.objects.values_list("step", "passed"))
    check = lab_client.post(f"{LAB}steps/create-role/check", **HTMX)
    assert check.status_code == 200 and "did not answer" in check.content.decode()
    # An outage is not a failed check: nothing stored, nothing un-passed.
    assert list(StepResult.objects.values_list("step", "passed")) == results_before
    form = lab_client.get(f"{LAB}console/launch_instance", **HTMX)
    assert form.status_code == 503 and "Reconnecting" in form.content.decode()
    posted = lab_client.post(f"{LAB}console/launch_instance", {}, **HTMX)
    assert posted["HX-Retarget"] == "#console-launch_instance-status"
    assert "Reconnecting" in posted.content.decode()


def test_the_labs_index_lists_every_lab_when_there_are_several(client, monkeypatch, tmp_path):
    from learnlab.labs import catalog

    text = (catalog.LAB_DIR / "instance-role.toml").read_text()
    (tmp_path / "instance-role.toml").write_text(text)
    second = text.replace('slug = "instance-role"', 'slug = "second-lab"', 1)
    (tmp_path / "second-lab.toml").write_text(
        second.replace('title = "Give an EC2 instance a role"', 'title = "A second lab"', 1)
    )
    monkeypatch.setattr(catalog, "LAB_DIR", tmp_path)  # a content folder with two lab files
    page = client.get("/lab/")
    assert page.status_code == 200
    assert 'href="/lab/instance-role/">Give an EC2 instance a role</a>' in page.content.decode()
    assert 'href="/lab/second-lab/">A second lab</a>' in page.content.decode()


# The completion page: what the learner built, as each lab's own checks report it -------------


def _built(page: str) -> str:
    return page.split('data-testid="built"', 1)[1].split("</dl>", 1)[0]


def test_the_completion_page_lists_what_the_instance_role_labs_checks_report(lab_client):
    """Steps 1 to 3 done for real (console form, launch form); 4 to 6 stored as passed but not
    done: each step says what its check reports in the sandbox now."""
    assert "Role S3ReadForEC2 created" in _create_role(lab_client).content.decode()
    launched = lab_client.post(
        f"{LAB}console/launch_instance",
        {
            "launch_instance-instance_type": "t3.micro",
            "launch_instance-image_id": "ami-0453ec754f44f9a4a",
            "launch_instance-profile": "S3ReadForEC2",
        },
        **HTMX,
    )
    assert "launched with profile S3ReadForEC2" in launched.content.decode()
    learner = Learner.objects.get(pk=lab_client.session["learner_id"])
    for step in lab_get("instance-role").steps:
        StepResult.objects.update_or_create(
            learner=learner,
            lab="instance-role",
            step=step.slug,
            defaults={"passed": True, "message": "ok", "checked_at": timezone.now()}
            | {"passed_at": timezone.now()},
        )
    page = lab_client.get(f"{LAB}complete").content.decode()
    assert "You finished" in page
    built = _built(page)
    instance = aws_client("ec2", sandbox=_sandbox(lab_client)).describe_instances()["Reservations"][
        0
    ]["Instances"][0]["InstanceId"]
    said = {
        n: built.split(f'data-testid="built-{n}">', 1)[1].split("</dd>", 1)[0] for n in (1, 2, 3, 4)
    }
    assert (
        "Role S3ReadForEC2 trusts ec2.amazonaws.com and carries AmazonS3ReadOnlyAccess" in said[1]
    )
    assert "Instance profile S3ReadForEC2 holds role S3ReadForEC2" in said[2]
    assert f"Instance {instance} is running with profile S3ReadForEC2" in said[3]
    assert "It does not pass now" in said[4] and "has fetched role S3ReadForEC2" in said[4]
    assert 'data-testid="key-ids"' in built and "none recorded" in built


def test_the_completion_page_of_another_lab_lists_its_own_checks_report(sandbox_server, client, db):
    """The least-privilege lab, solved by its own CLI solution (the self-test harness): "What
    you built" is its one check's passing message, not the instance-role lab's role, profile
    and instance."""
    from learnlab.labs.selftest import lab_selftest
    from learnlab.learners.selectors import SESSION_KEY

    lab = lab_get("least-privilege")
    report = lab_selftest(lab, ways=("cli",), keep=True)
    assert report.ok, "\n".join(report.problem_lines())
    session = client.session
    session[SESSION_KEY] = str(report.learners["cli"].pk)
    session.save()
    page = client.get(f"/lab/{lab.slug}/complete").content.decode()
    assert "You finished" in page
    built = _built(page)
    assert f"Step 1: {escape(lab.steps[0].title)}" in built
    assert "lets the app list" in built and "least privilege." in built
    for other in ("Instance profile</dt>", "Role</dt>", "not found in your sandbox now"):
        assert other not in built

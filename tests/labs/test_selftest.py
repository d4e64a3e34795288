"""Every lab tests itself (the CI check): for every file in learnlab/labs/content/, each step's
CLI and console solutions run on a fresh sandbox through the real terminal interpreter, console
forms, gate, sandbox server and metadata service; each check goes green in order, and stays red
on an empty sandbox and just before its step. A lab whose solutions and checks disagree fails,
naming the file and step. The harness itself is shown failing on labs that disagree."""

import json

import pytest

from learnlab.labs.catalog import LAB_DIR, WAYS, lab_parse, lab_read, registries
from learnlab.labs.selftest import lab_selftest
from learnlab.learners.selectors import SESSION_KEY
from learnlab.lib.iam_policy import EC2_TRUST_POLICY

pytestmark = pytest.mark.django_db

LAB_FILES = sorted(LAB_DIR.glob("*.toml"))


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("path", LAB_FILES, ids=[path.stem for path in LAB_FILES])
def test_every_step_of_the_lab_passes_by_its_solution_and_only_after_it(
    sandbox_server, client, path, way
):
    lab = lab_read(path)
    report = lab_selftest(lab, ways=(way,), keep=True)
    assert report.ok, "\n".join(report.problem_lines())
    assert [row.step.number for row in report.rows] == [s.number for s in lab.steps]
    assert all(row.ok for row in report.rows)
    # The learner who solved it sees the lab's completion page.
    session = client.session
    session[SESSION_KEY] = str(report.learners[way].pk)
    session.save()
    page = client.get(f"/lab/{lab.slug}/complete")
    assert page.status_code == 200
    assert "You finished" in page.content.decode(), page.content.decode()


# A two-step lab for the harness's own failures: a role EC2 may assume, then its profile.
TRUST = json.dumps(json.loads(EC2_TRUST_POLICY), separators=(",", ":"))
CREATE_ROLE = f"aws iam create-role --role-name app --assume-role-policy-document '{TRUST}'"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
ATTACH = f"aws iam attach-role-policy --role-name app --policy-arn {S3_READ}"
PROFILE = "aws iam create-instance-profile --instance-profile-name app"
ADD_ROLE = "aws iam add-role-to-instance-profile --instance-profile-name app --role-name app"


def two_steps(step_1: list[str], step_2: list[str], setup: str = "") -> str:
    def step(slug: str, check: str, lines: list[str]) -> str:
        quoted = ", ".join(json.dumps(line) for line in lines)
        return (
            f'[[steps]]\nslug = "{slug}"\ntitle = "{slug}"\npoints = ["EP01"]\n'
            f'check = "{check}"\ninstructions = "Do it."\nhint = "Like this."\n'
            f'[steps.solution]\nconsole = "Click."\ncli = "Type."\n'
            f"cli_run = [{quoted}]\n"
        )

    return (
        'slug = "harness"\ntitle = "Harness"\nsummary = "A test lab."\n'
        + setup
        + step("make-role", "role_for_ec2", step_1)
        + step("make-profile", "profile_with_role", step_2)
    )


def selftest(text: str):
    lab = lab_parse(text, where="harness.toml", registries=registries())
    return lab_selftest(lab, ways=("cli",))


def test_a_solution_that_does_not_make_its_check_pass_fails_naming_the_file_and_step(
    sandbox_server,
):
    report = selftest(two_steps([CREATE_ROLE, ATTACH], [PROFILE]))  # the role never added
    assert not report.ok
    (problem,) = report.problem_lines()
    assert problem.startswith("harness.toml, step 2 (cli way): check profile_with_role stays red")
    assert "holds no role" in problem
    assert "FAIL" in report.table()


def test_a_check_that_passes_before_its_step_fails_the_negative_control(sandbox_server):
    report = selftest(two_steps([CREATE_ROLE, ATTACH, PROFILE, ADD_ROLE], [PROFILE]))
    problems = report.problem_lines()
    assert problems[0].startswith("harness.toml, step 2 (cli way): check profile_with_role passes")
    assert "before the step's solution ran (negative control)" in problems[0]


def test_a_check_green_on_the_prepared_state_fails_the_empty_control(sandbox_server):
    setup = (
        '[[setup]]\nservice = "iam"\noperation = "CreateRole"\n'
        f'params = {{ RoleName = "app", AssumeRolePolicyDocument = {json.dumps(TRUST)} }}\n'
        '[[setup]]\nservice = "iam"\noperation = "AttachRolePolicy"\n'
        f'params = {{ RoleName = "app", PolicyArn = "{S3_READ}" }}\n'
    )
    report = selftest(two_steps([CREATE_ROLE], [PROFILE, ADD_ROLE], setup))
    problems = report.problem_lines()
    assert problems[0].startswith("harness.toml, step 1 (cli way): check role_for_ec2 passes on")
    # The step's own line fails too: the setup made the role already.
    assert any("EntityAlreadyExists" in p and "cli_run entry 1" in p for p in problems)


def test_a_step_without_a_runnable_solution_fails(sandbox_server):
    text = two_steps([CREATE_ROLE, ATTACH], [PROFILE]).replace(
        f"cli_run = [{json.dumps(PROFILE)}]\n", ""
    )
    problems = selftest(text).problem_lines()
    assert problems == [
        "harness.toml, step 2 (cli way): no cli_run: write the step's cli solution as entries "
        "the self-test can run (docs/authoring.md, section 6)"
    ]


def test_a_console_solution_that_disagrees_fails_naming_the_form_or_the_check(sandbox_server):
    text = two_steps([CREATE_ROLE, ATTACH], [PROFILE, ADD_ROLE]).replace(
        'check = "role_for_ec2"\n', 'check = "role_for_ec2"\nforms = ["role_for_ec2"]\n', 1
    )
    no_policy = 'console_run = [{ form = "role_for_ec2", fields = { role_name = "app" } }]\n'
    wrong_field = 'console_run = [{ form = "role_for_ec2", fields = { name = "app" } }]\n'
    for console_run, said in (
        (
            no_policy,
            "check role_for_ec2 stays red after the step's console solution ran: "
            "Role app trusts EC2 but has no permissions policy",
        ),
        (
            wrong_field,
            "console_run entry 1 (console form role_for_ec2 {'name': 'app'}): the "
            "form has no fields ['name']",
        ),
    ):
        lab_text = text.replace('cli = "Type."\n', 'cli = "Type."\n' + console_run, 1)
        lab = lab_parse(lab_text, where="harness.toml", registries=registries())
        problems = lab_selftest(lab, ways=("console",)).problem_lines()
        assert problems[0].startswith(f"harness.toml, step 1 (console way): {said}"), problems

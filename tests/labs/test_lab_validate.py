"""Authoring: the loader's rules for machine-runnable solutions and setup calls, each refusal
naming the file, the step and the rule; ``manage.py lab validate`` (exit 1 on errors),
``lab selftest`` (a table, exit 1 on a disagreement) and ``lab list``; docs/authoring.md names
every check and form a lab file may use."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from learnlab.labs import catalog
from learnlab.labs.catalog import LabError, lab_parse, registries
from learnlab.quiz.bank import POINT_TITLES

HEAD = 'slug = "demo"\ntitle = "Demo"\nsummary = "A demo."\n'
STEP = """
[[steps]]
slug = "make-role"
title = "Make a role"
points = ["EP01"]
check = "role_for_ec2"
forms = ["role_for_ec2"]
instructions = "Do it."
hint = "Like this."
[steps.solution]
console = "Click."
cli = "Type."
"""
MANAGE = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]


def parse(text: str):
    return lab_parse(text, where="demo.toml", registries=registries())


def test_runnable_solutions_and_setup_parse():
    lab = parse(
        HEAD
        + '[[setup]]\nservice = "iam"\noperation = "CreateUser"\nparams = { UserName = "dev" }\n'
        + STEP
        + 'cli_run = ["aws iam list-roles", { wait = "renewal" }]\n'
        + 'console_run = [{ form = "role_for_ec2", fields = { role_name = "app" } }, "aws s3 ls"]\n'
    )
    (call,) = lab.setup
    assert (call.service, call.operation, call.params) == ("iam", "CreateUser", {"UserName": "dev"})
    runs = lab.steps[0].runs
    assert [e.line or e.wait for e in runs["cli"]] == ["aws iam list-roles", "renewal"]
    assert runs["console"][0].form == "role_for_ec2"
    assert runs["console"][0].fields == {"role_name": "app"}


def test_a_step_without_runnable_solutions_still_loads_with_none():
    assert parse(HEAD + STEP).steps[0].runs == {"cli": None, "console": None}


@pytest.mark.parametrize(
    ("solution", "rule"),
    [
        ('cli_run = "aws s3 ls"', "cli_run must be a list"),
        ('cli_run = [""]', "cli_run entry 1 is an empty terminal line"),
        ("cli_run = [3]", "cli_run entry 1 must be a terminal line (a string) or a table"),
        ('cli_run = [{ wait = "an hour" }]', "cli_run entry 1: a wait is { wait = 'renewal' }"),
        (
            'cli_run = [{ form = "role_for_ec2" }]',
            "cli_run entry 1: the CLI way uses no console form",
        ),
        (
            'console_run = ["ls", { form = "launch_instance" }]',
            "console_run entry 2: form 'launch_instance' is not one of the step's forms",
        ),
        (
            'console_run = [{ form = "role_for_ec2", fields = { role_name = { a = 1 } } }]',
            "console_run entry 1: fields must map field names to text",
        ),
        ('console_run = [{ from = "role_for_ec2" }]', "console_run entry 1: a table is"),
        ("cli_runs = []", "unknown solution fields ['cli_runs']"),
    ],
)
def test_a_broken_runnable_solution_is_refused_naming_the_file_step_and_rule(solution, rule):
    with pytest.raises(LabError) as error:
        parse(HEAD + STEP + solution + "\n")
    assert str(error.value).startswith("demo.toml, step 1: ")
    assert rule in str(error.value)


@pytest.mark.parametrize(
    ("setup", "rule"),
    [
        ('service = "lambda"\noperation = "CreateFunction"', "service must be one of iam"),
        ('service = "iam"\noperation = "MakeRole"', "iam has no operation 'MakeRole'"),
        (
            'service = "iam"\noperation = "CreateRole"\nparams = { RoleName = "x" }',
            "CreateRole's params: Parameter validation failed",
        ),
        ('service = "iam"\noperation = "CreateUser"\nwhen = "now"', "service, operation and"),
    ],
)
def test_a_broken_setup_call_is_refused_naming_the_call(setup, rule):
    with pytest.raises(LabError) as error:
        parse(HEAD + "[[setup]]\n" + setup + "\n" + STEP)
    assert str(error.value).startswith("demo.toml, setup call 1: ")
    assert rule in str(error.value)


def test_lab_validate_prints_each_file_and_exits_1_on_an_error(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(HEAD + STEP + 'cli_run = ["aws iam list-roles"]\n')
    bad = tmp_path / "bad.toml"
    bad.write_text(HEAD + STEP.replace("role_for_ec2", "role_for_lambda", 1))
    result = subprocess.run(
        [*MANAGE, "lab", "validate", str(good), str(bad), str(tmp_path / "missing.toml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "good.toml: 1 steps, valid; 1 step solutions not runnable by lab selftest" in (
        result.stdout
    )
    assert "bad.toml, step 1: unknown check 'role_for_lambda'" in result.stderr
    assert "missing.toml: no such file" in result.stderr
    assert "Traceback" not in result.stderr
    every = subprocess.run(
        [*MANAGE, "lab", "validate", *map(str, sorted(catalog.LAB_DIR.glob("*.toml")))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert every.returncode == 0, every.stderr
    assert "instance-role.toml: 6 steps, valid\n" in every.stdout


def test_lab_list_names_every_registered_check_form_and_exam_point():
    result = subprocess.run([*MANAGE, "lab", "list"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    found = registries()
    for name in [*found["checks"], *found["forms"], "EP01", "EP18"]:
        assert f"  {name}: " in result.stdout


def test_the_authoring_guide_names_every_check_form_and_exam_point():
    guide = (Path(settings.BASE_DIR) / "docs" / "authoring.md").read_text()
    found = registries()
    missing = [name for name in [*found["checks"], *found["forms"]] if f"`{name}`" not in guide]
    missing += [
        point for point, title in POINT_TITLES.items() if f"| {point} | {title} |" not in guide
    ]
    assert missing == []


@pytest.mark.django_db
def test_lab_selftest_prints_a_table_and_exits_1_when_a_step_disagrees(
    sandbox_server, tmp_path, monkeypatch, capsys
):
    lab_file = tmp_path / "demo.toml"
    lab_file.write_text(
        HEAD
        + STEP
        + 'cli_run = ["aws iam create-role --role-name app --assume-role-policy-document '
        + "'{}'\"]\n"
    )
    monkeypatch.setattr(catalog, "LAB_DIR", tmp_path)
    with pytest.raises(SystemExit) as exited:
        call_command("lab", "selftest", "demo", "--way", "cli")
    assert exited.value.code == 1
    out = capsys.readouterr().out
    assert "way  step         red when empty  red before  green after" in out
    assert "cli  1 make-role  ok              ok          -" in out
    assert "demo.toml, step 1 (cli way): cli_run entry 1" in out
    assert "MalformedPolicyDocument" in out
    with pytest.raises(CommandError, match="no lab 'nope' in learnlab/labs/content/"):
        call_command("lab", "selftest", "nope")


def test_every_broken_step_is_named_at_once():
    second = STEP.replace("make-role", "make-profile").replace('["EP01"]', '["EP99"]')
    with pytest.raises(LabError) as error:
        parse(HEAD + STEP.replace("role_for_ec2", "nope", 1) + second)
    assert str(error.value).splitlines() == [
        "demo.toml, step 1: unknown check 'nope'",
        "demo.toml, step 2: unknown exam points ['EP99'] (EP01 to EP18)",
    ]

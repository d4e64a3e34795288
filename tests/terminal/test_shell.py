"""The terminal's shell language: bash's quoting and expansions, what connects commands, the
builtins, and what is refused (before anything runs)."""

import json

import pytest

from learnlab.terminal.interpreter import NOT_AVAILABLE
from learnlab.terminal.models import Shell

pytestmark = pytest.mark.django_db


@pytest.mark.services
def test_variables_persist_between_lines(run, shell):
    assert run("ROLE=S3Access").exit_status == 0
    assert run("export PROFILE_NAME=Webserver").exit_status == 0
    assert run("echo $ROLE ${PROFILE_NAME}-1 $UNSET.").output == "S3Access Webserver-1 .\n"
    assert run("unset ROLE && echo [$ROLE]").output == "[]\n"
    shell.refresh_from_db()
    assert shell.environments["workstation"]["variables"]["PROFILE_NAME"] == "Webserver"


def test_quotes_and_escapes_behave_as_in_bash(run):
    run('X="a   b"')
    assert run("echo $X").output == "a b\n"
    assert run('echo "$X"').output == "a   b\n"
    assert run("echo '$X'  \"'$X'\" c\\ d").output == "$X 'a   b' c d\n"
    assert run("echo \"a\\\"b\" 'c\"d' $'e\\tf'").output == 'a"b c"d e\tf\n'
    assert run('echo ""x""').output == "x\n"
    assert run("echo -n no newline").output == "no newline\n"  # the log ends the line
    assert run("echo $? && false; echo $?").output == "0\n1\n"


def test_command_substitution_and_backticks(run, sandbox):
    result = run(
        "ACCOUNT=$(aws sts get-caller-identity --query Account --output text) && "
        'echo "account: $ACCOUNT" `echo and backticks`'
    )
    assert result.output == f"account: {sandbox.account_id} and backticks\n"
    assert run('echo "$(echo "nested $(echo deep)")"').output == "nested deep\n"
    assert run("echo $(echo one; echo two)").output == "one two\n"
    assert run('echo "$(echo one; echo two)"').output == "one\ntwo\n"


def test_and_or_and_semicolon(run):
    assert run("false && echo no; echo yes").output == "yes\n"
    assert run("false || echo fallback").output == "fallback\n"
    assert run("true && echo a || echo b").output == "a\n"
    assert run("echo a\necho b").output == "a\nb\n"
    failed = run("aws iam get-role --role-name Nope && echo never")
    assert "never" not in failed.output and failed.exit_status == 255


def test_a_pipe_into_a_json_pretty_printer(run):
    jq = run("aws sts get-caller-identity | jq .").output
    assert jq.startswith('{\n  "UserId": ') and json.loads(jq)["Arn"].endswith(":user/learnlab")
    tool = run("aws sts get-caller-identity | python3 -m json.tool").output
    assert tool.startswith('{\n    "UserId": ')
    assert run("echo '{\"a\": [1, 2]}' | jq -c .").output == '{"a":[1,2]}\n'
    bad = run("echo not-json | jq .")
    assert bad.exit_status != 0 and "jq: error" in bad.output


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("cat /etc/passwd", "cat: /etc/passwd: not available in this lab"),
        ("bash -c 'id'", "bash: command not available in this lab"),
        ("sh", "sh: command not available"),
        ("python3", "python3: not available in this lab except as a JSON pretty-printer"),
        ("python3 -c 'import os'", "python3: not available"),
        ("sudo cat /etc/shadow", "sudo: command not available"),
        ("echo secret > /tmp/x", "redirection is not available in this lab"),
        (
            "aws sts get-caller-identity > /tmp/out.json",
            "/tmp/out.json: redirection is not available in this lab outside your home directory",
        ),
        ("cat < /etc/passwd", "redirection is not available"),
        ("echo x 2>&1", "redirection is not available"),
        ("echo x &", "background jobs (&) are not available"),
        ("(echo x)", "subshells ( ... ) are not available"),
        ("aws iam list-roles | grep S3", "pipes are limited to a JSON pretty-printer"),
        ("aws iam list-roles | jq '.Roles[].RoleName'", "only `jq .` is available"),
        ("aws iam list-roles | sh", "pipes are limited"),
        ("echo 'unterminated", "unexpected EOF while looking for matching"),
        ("echo $((1 + 2))", "arithmetic"),
        ("&& echo x", "syntax error near unexpected token `&&'"),
        ("echo ${X:-default}", "bad substitution"),
    ],
)
def test_what_is_not_a_lab_command_is_refused_clearly(run, line, says):
    result = run(line)
    assert result.exit_status != 0
    assert says in result.output


@pytest.mark.parametrize("line", ["echo $(sudo id)", "echo `sudo id`"])
def test_a_substitution_of_a_refused_command_is_empty_as_in_bash(run, line):
    result = run(line)
    assert result.output == NOT_AVAILABLE.format(name="sudo") + "\n\n"


def test_ls_la_lists_the_home_rather_than_the_machine(run):
    run("echo '{}' > trust.json")
    listing = run("ls -la")
    assert listing.exit_status == 0
    assert "trust.json" in listing.output and "etc" not in listing.output


def test_a_refused_line_runs_nothing(run):
    run("X=before")
    result = run("X=after; echo $X > /tmp/x")
    assert "redirection" in result.output
    assert run("echo $X").output == "before\n"


def test_limits_get_a_message_not_an_error(run):
    assert "command line too long" in run("echo " + "a" * 9000).output
    assert "too many command substitutions" in run("echo " + "$(true)" * 20).output
    run("X=" + "a" * 4000)
    run("X=$X$X$X$X")
    huge = run("echo " + "$X" * 17)
    assert huge.output.endswith("[output truncated: more than 256 KB]\n")
    assert len(huge.output) < 270_000
    assert "too many commands" in run("true; " * 70).output


def test_a_line_that_runs_too_long_stops(run, monkeypatch):
    monkeypatch.setattr("learnlab.terminal.interpreter.LINE_SECONDS", -1)
    result = run("echo never")
    assert "this line ran for more than" in result.output and "never\n" not in result.output


def test_clear_help_and_exit_on_the_workstation(run, shell):
    run("echo something")
    cleared = run("clear")
    assert cleared.clear and cleared.output == ""
    shell.refresh_from_db()
    assert len(shell.scrollback) == 1 and shell.scrollback[0]["cleared"]
    assert "aws iam|ec2|sts|s3api" in run("help").output
    assert "nothing to exit to" in run("exit").output
    assert run("pwd").output == "/home/learner\n"


@pytest.mark.services
def test_the_scrollback_is_kept_and_bounded(run, shell, monkeypatch):
    monkeypatch.setattr("learnlab.terminal.services.SCROLLBACK_ENTRIES", 3)
    for number in range(5):
        run(f"echo line {number}")
    shell.refresh_from_db()
    assert [e["command"] for e in shell.scrollback] == [f"echo line {n}" for n in (2, 3, 4)]
    assert shell.scrollback[-1]["output"] == "line 4\n"
    assert shell.scrollback[-1]["prompt"] == "[learner@workstation ~]$"


def test_resetting_gives_a_new_shell(run, shell, sandbox):
    from learnlab.terminal.services import shell_open, shell_reset

    run("X=1")
    shell_reset(learner=sandbox.learner)
    assert not Shell.objects.filter(pk=shell.pk).exists()
    assert shell_open(sandbox=sandbox).environments == {}

"""The other side of R2's terminal fixes: what still runs next to what is now refused.

The AWS CLI v1's main parser is argparse's with abbreviations allowed (awscli/argparser.py keeps
``allow_abbrev``'s default), so an unambiguous prefix of a global option is that option, wherever
on the line it stands; completion is awscli/completer.py's ``Completer``.
"""

import json
import threading

import pytest
from django.db import connection

from learnlab.terminal import home
from learnlab.terminal.completion import aws_completions
from learnlab.terminal.interpreter import MAX_VARIABLES
from learnlab.terminal.models import HomeFile
from learnlab.terminal.services import DatabaseHome

pytestmark = pytest.mark.django_db


def test_export_past_the_limit_says_so_and_keeps_what_fits(run, shell):
    """``export`` of names without values stops at the variables' limit with bash's words for
    it; the names exported before still are, and one already exported can be exported again."""
    names = " ".join(f"n{i}" for i in range(MAX_VARIABLES))
    assert run(f"export {names}").exit_status == 0
    refused = run("export one_more")
    assert refused.exit_status != 0
    assert f"too many variables (this lab keeps {MAX_VARIABLES})" in refused.output
    assert run("export n7").exit_status == 0
    shell.refresh_from_db()
    exported = shell.environments["workstation"]["exported"]
    assert "n0" in exported and f"n{MAX_VARIABLES - 1}" in exported
    assert "one_more" not in exported
    assert run("aws sts get-caller-identity").exit_status == 0  # the lab keys still exported


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("aws --d sts get-caller-identity", "--debug is not available"),
        ("aws sts get-caller-identity --de", "--debug is not available"),
        ("aws iam create-role --role-name --d", "--debug is not available"),
        ("aws --e http://127.0.0.1:9 sts get-caller-identity", "--endpoint-url is not available"),
        ("aws --e=http://127.0.0.1:9 sts get-caller-identity", "--endpoint-url is not available"),
        ("aws --pr default sts get-caller-identity", "--profile is not available"),
        ("aws --p default sts get-caller-identity", "--profile is not available"),
        ("aws --ca x sts get-caller-identity", "--ca-bundle is not available"),
    ],
)
def test_any_abbreviation_the_cli_reads_as_a_refused_option_is_refused(run, line, reason):
    """Each is that option to the CLI's main parser (checked against its parser in the CLI's
    own argparse): refused before anything runs, exit status 252."""
    result = run(line)
    assert result.exit_status == 252, result.output
    assert reason in result.output


def test_abbreviations_of_allowed_options_still_run(run):
    """``--reg`` is --region and ``--o`` --output to the CLI: they run (the screen reads the
    value after them as theirs, not as a service). ``--c`` could be --color, --ca-bundle or a
    timeout: the CLI itself refuses it as ambiguous, and here it never runs either."""
    assert run("aws --reg us-east-1 sts get-caller-identity").exit_status == 0
    result = run("aws --o text sts get-caller-identity")
    assert result.exit_status == 0 and "arn:aws:iam::" in result.output
    ambiguous = run("aws --c x sts get-caller-identity")
    assert ambiguous.exit_status != 0 and "arn:aws" not in ambiguous.output


@pytest.mark.parametrize(
    ("line", "offered", "refused"),
    [
        ("aws s3api get-obj", {"get-object-acl", "get-object-tagging"}, {"get-object"}),
        ("aws s3api get-object-t", {"get-object-tagging"}, {"get-object-torrent"}),
        ("aws iam create-saml", set(), {"create-saml-provider"}),  # the gate's InvalidAction
        ("aws iam create-", {"create-role", "create-instance-profile"}, {"create-saml-provider"}),
        ("aws sts ", {"get-caller-identity"}, {"assume-role-with-saml", "get-federation-token"}),
        ("aws configure ", {"list"}, {"set", "get"}),
        ("aws lambda --", set(), {"--function-name"}),
        ("aws s3api get-object --", set(), {"--bucket", "--key"}),
        ("aws --region us-east-1 ia", {"iam"}, set()),
    ],
)
def test_completion_offers_what_runs(line, offered, refused):
    """Only what the terminal runs: no get-object or get-object-torrent (they write a file), no
    operation the gate refuses, nothing after a refused service or operation; global options
    and their values skipped over."""
    found = set(aws_completions(line))
    assert offered <= found and not refused & found, sorted(found)[:20]
    if not offered:
        assert found == set()


@pytest.mark.django_db(transaction=True)
def test_concurrent_terminal_writes_keep_the_quota(sandbox):
    """The lock is in the home itself (``DatabaseHome.write``): the terminal's ``>`` and the
    editor's saves count the same way. Twelve writes of new files at once, with 45 stored:
    the host ends with FILES_PER_HOST files, each refusal saying so."""
    from learnlab.terminal.services import shell_open

    shell = shell_open(sandbox=sandbox)
    HomeFile.objects.bulk_create(
        HomeFile(shell=shell, host="workstation", name=f"f{i}", content="") for i in range(45)
    )
    barrier, refusals = threading.Barrier(12), []

    def write(number):
        try:
            barrier.wait()
            DatabaseHome(shell).write("workstation", f"new{number}", json.dumps(number))
        except home.HomeError as error:
            refusals.append(str(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert HomeFile.objects.filter(shell=shell, host="workstation").count() == home.FILES_PER_HOST
    assert len(refusals) == 7 and all("too many files" in r for r in refusals)

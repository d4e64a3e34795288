"""Red team R2: a hostile learner against the in-page terminal: its files' quotas, its shell
state, the AWS CLI's own option parsing and Tab completion; plus the attacks on the files that
held, kept as regression tests.

The CLI's option abbreviations follow Python's argparse (``allow_abbrev`` defaults to True, and
awscli/argparser.py's parsers keep the default), as the AWS CLI v1 source parses
``aws [options] <command> <subcommand>``; completion is awscli/completer.py's ``Completer``,
what ``aws_completer`` runs.
"""

import threading

import pytest
from django.test import Client

from learnlab.terminal import home
from learnlab.terminal.completion import aws_completions
from learnlab.terminal.interpreter import MAX_VARIABLES
from learnlab.terminal.models import HomeFile, Shell
from learnlab.terminal.services import shell_open, shell_run

EDIT = "/terminal/files/edit"


def _run(shell, line):
    shell.refresh_from_db()
    return shell_run(shell=shell, line=line)


# Quotas


@pytest.mark.django_db(transaction=True)
def test_concurrent_editor_saves_never_pass_the_files_a_host_quota(sandbox_server, fresh_cache):
    """Attack: with 45 files on the workstation, twelve saves of new files posted to the in-page
    editor at once (twelve tabs, or a script reusing the session cookie), three times. Each save
    counts the host's files, then stores its own (``Home.write``: a read, then a write, no lock
    or constraint between them), so several see 49 and all store. Expected: never more than
    FILES_PER_HOST files a host, whatever arrives together; the refused saves say so."""
    browser = Client()
    browser.get("/sandbox/panel")
    seed = {"host": "workstation", "name": "seed", "content": "x"}
    assert browser.post(EDIT, seed).status_code == 302
    shell = Shell.objects.get()
    counts = []
    for attempt in range(3):
        HomeFile.objects.filter(shell=shell).delete()
        HomeFile.objects.bulk_create(
            HomeFile(shell=shell, host="workstation", name=f"f{i}", content="") for i in range(45)
        )
        barrier = threading.Barrier(12)

        def save(number, attempt=attempt, barrier=barrier):
            tab = Client()
            tab.cookies = browser.cookies
            barrier.wait()
            form = {"host": "workstation", "name": f"new{attempt}-{number}", "content": "y"}
            tab.post(EDIT, form)

        threads = [threading.Thread(target=save, args=(n,)) for n in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        counts.append(HomeFile.objects.filter(shell=shell, host="workstation").count())
    assert max(counts) <= home.FILES_PER_HOST, counts


@pytest.mark.django_db
def test_exported_names_are_limited_like_variables(sandbox):
    """Attack: ``export a1 a2 ... a1000`` (names only, no values), one 8 KB line after another.
    ``_set`` keeps MAX_VARIABLES variables of 16 KB at most, but ``export NAME`` appends each new
    name to the stored ``exported`` list with no limit: the shell's JSON, copied and saved on
    every line, grows by about a thousand names a post. Expected: the same limit as variables
    ("too many variables (this lab keeps 100)"), the stored list never past it."""
    shell = shell_open(sandbox=sandbox)
    for batch in range(3):
        _run(shell, "export " + " ".join(f"n{batch}_{i}" for i in range(1000)))
    shell.refresh_from_db()
    exported = shell.environments["workstation"]["exported"]
    assert len(exported) <= MAX_VARIABLES + 3  # the lab keys and region the shell starts with


# The AWS CLI's own parsing


@pytest.mark.django_db
def test_an_abbreviated_debug_option_is_refused_like_debug(sandbox):
    """Attack: ``aws --d sts get-caller-identity``. The screen refuses ``--debug`` and its
    abbreviations of four characters or more, but argparse takes any unambiguous prefix:
    ``--d`` is ``--debug`` to the CLI's main parser (the only global option starting so), and
    the command runs with debug on; only LabSession's no-op ``set_stream_logger`` stands between
    that and the server's internals. Expected: refused with --debug's own message, as
    ``aws --deb ...`` is."""
    shell = shell_open(sandbox=sandbox)
    assert "--debug is not available" in _run(shell, "aws --deb sts get-caller-identity").output
    result = _run(shell, "aws --d sts get-caller-identity")
    assert result.exit_status == 252
    assert "--debug is not available in this lab" in result.output


# Tab completion


@pytest.mark.parametrize(
    ("line", "refused"),
    [
        ("aws lambda ", "create-function"),  # a service the terminal does not run
        ("aws ssm ", "send-command"),
        ("aws s3api get-obj", "get-object"),  # refused: it writes a file
        ("aws a ", "accessanalyzer"),  # after an unknown word: the CLI's services, by prefix
    ],
)
def test_completion_offers_only_what_the_terminal_runs(line, refused):
    """Attack: Tab after a service or subcommand the terminal refuses. ``aws_completions``
    filters the top level and s3/configure only, so the CLI's whole command tables show (every
    lambda and ssm subcommand; ``get-object``; after ``aws a `` the CLI's 32 services in a).
    Expected: completion offers what the terminal would run, nothing it answers with "not
    available in this lab"."""
    assert refused not in aws_completions(line)


# Attacks that held: kept so they keep holding


@pytest.mark.django_db
@pytest.mark.parametrize(
    "line",
    [
        "aws iam create-role --role-name x --assume-role-policy-document file:///etc/passwd",
        "aws iam create-role --role-name x --assume-role-policy-document=file:///etc/passwd",
        "aws iam create-role --role-name x --assume-role-policy-document FILE://etc/passwd",
        "aws iam create-role --role-name x --assume-role-policy-document File://passwd",
        "aws iam create-role --role-name x --assume-role-policy-document fileb://../../etc/hosts",
        "aws iam create-role --role-name x --assume-role-policy-document file://~root/.bashrc",
        "aws iam create-role --role-name x --assume-role-policy-document http://127.0.0.1:9/",
        "aws ec2 describe-instances --cli-input-json file://x.json",
        "aws ec2 describe-instances --cli-input-j x",
        "aws ec2 describe-instances --cli-input-yaml x",
        "aws configure set region us-west-2",
        "aws configure get aws_secret_access_key",
        "aws s3 cp /etc/passwd s3://bucket/",
        "aws s3 sync / s3://bucket/",
        "aws s3api get-object --bucket b --key k /tmp/out",
        "aws --deb sts get-caller-identity",
        "aws --endpoint-url http://127.0.0.1:9 sts get-caller-identity",
        "aws --en=http://127.0.0.1:9 sts get-caller-identity",
        "aws history list",
    ],
)
def test_reads_writes_and_escapes_of_the_server_are_refused_before_the_cli_runs(sandbox, line):
    """Held: file://, fileb://, case tricks, ``..``, ``~user``, URLs (the CLI's
    cli_follow_urlparam), --cli-input-*, configure set/get, s3 cp/sync, get-object's outfile,
    --debug and --endpoint-url abbreviations: each refused with the terminal's exit status 252,
    nothing read from or written to the server's disk."""
    result = _run(shell_open(sandbox=sandbox), line)
    assert result.exit_status == 252, result.output
    assert "root:" not in result.output and "in this lab" in result.output


@pytest.mark.django_db
@pytest.mark.parametrize(
    "line",
    [
        "cat < /etc/passwd",
        "cat /etc/passwd",
        "cat ../../etc/passwd",
        "cat ~root/.bashrc",
        "cp /etc/passwd mine",
        "echo x > /tmp/r2-owned",
        "cat > ../escape <<'EOF'\nx\nEOF",
        "echo x > 'a\nb'",
    ],
)
def test_redirections_and_file_builtins_stay_in_the_home(sandbox, line):
    """Held: ``<``, ``>``, cat/cp and here-documents naming paths outside the virtual home are
    refused with a message; nothing is written to the server's disk or stored."""
    shell = shell_open(sandbox=sandbox)
    result = _run(shell, line)
    assert result.exit_status != 0
    assert "root:" not in result.output
    assert not HomeFile.objects.filter(shell=shell).exists()


@pytest.mark.django_db(transaction=True)
def test_file_names_and_contents_are_escaped_in_the_editor(sandbox_server, fresh_cache):
    """Held: a file whose content closes the textarea and opens a script is shown escaped in the
    editor, and a name with markup is refused (400) and echoed escaped."""
    browser = Client()
    browser.get("/sandbox/panel")
    payload = "</textarea><script>alert(1)</script>"
    saved = browser.post(EDIT, {"host": "workstation", "name": "x.json", "content": payload})
    assert saved.status_code == 302
    page = browser.get(f"{EDIT}?host=workstation&name=x.json").content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    refused = browser.get(f"{EDIT}?host=workstation&name=<script>x</script>")
    assert refused.status_code == 400 and "<script>x" not in refused.content.decode()

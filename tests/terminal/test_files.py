"""A terminal with files: each host's virtual home directory, redirections, here-documents and
``file://``/``fileb://`` in the real AWS CLI, through the terminal's real interpreter.

Fidelity: the walkthrough follows AWS's "Use IAM roles to grant permissions to applications
running on Amazon EC2 instances" (IAM User Guide, id_roles_use_switch-role-ec2.html, the CLI
steps: ``aws iam create-role --role-name ... --assume-role-policy-document
file://ec2-role-trust-policy.json``) and the AWS CLI User Guide's "Loading AWS CLI parameters
from a file" (cli-usage-parameters-file.html: file:// text, fileb:// binary); the missing-file
message is awscli/paramfile.py's own.
"""

import base64
import json

import pytest

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.terminal import home
from learnlab.terminal.models import HomeFile

pytestmark = pytest.mark.django_db
TRUST = json.loads(EC2_TRUST_POLICY)


def _files(shell, host="workstation"):
    return {f.name: f.content for f in HomeFile.objects.filter(shell=shell, host=host)}


def test_echo_writes_and_appends_and_cat_ls_rm_read_them(run, shell):
    assert run("echo first > notes.txt && echo second >> ~/notes.txt").exit_status == 0
    assert run("cat notes.txt").output == "first\nsecond\n"
    assert run("cat /home/learner/notes.txt ./notes.txt").output == "first\nsecond\n" * 2
    assert run("touch empty && ls").output == "empty\nnotes.txt\n"
    assert "learner learner" in run("ls -l notes.txt").output
    assert run("rm empty && ls").output == "notes.txt\n"
    missing = run("cat nope.json")
    assert missing.exit_status == 1
    assert missing.output == "cat: nope.json: No such file or directory\n"
    assert run("rm -f nope.json").exit_status == 0
    assert "cannot remove 'nope.json'" in run("rm nope.json").output
    assert _files(shell) == {"notes.txt": "first\nsecond\n"}


def test_a_here_document_typed_line_by_line_writes_the_file(run, shell):
    opened = run("cat > ec2-role-trust-policy.json <<'EOF'")
    assert opened.output == "" and opened.prompt == ">"
    for line in json.dumps(TRUST, indent=2).splitlines():
        assert run(line).prompt == ">"
    closed = run("EOF")
    assert closed.prompt == "[learner@workstation ~]$" and closed.exit_status == 0
    assert json.loads(_files(shell)["ec2-role-trust-policy.json"]) == TRUST
    shell.refresh_from_db()
    assert [e["prompt"] for e in shell.scrollback][-2:] == [">", ">"]


def test_here_documents_expand_unless_the_delimiter_is_quoted(run, shell):
    run("ROLE=S3Access")
    run("cat > a.txt <<EOF\nrole $ROLE, $(echo sub), \\$literal\nEOF")
    run("cat > b.txt <<'EOF'\nrole $ROLE\nEOF")
    run("cat > c.txt <<-END\n\tindented\n\tEND")
    files = _files(shell)
    assert files["a.txt"] == "role S3Access, sub, $literal\n"
    assert files["b.txt"] == "role $ROLE\n"
    assert files["c.txt"] == "indented\n"
    assert run('cat <<EOF | jq -c .\n{"a": 1}\nEOF').output == '{"a":1}\n'
    assert run("jq . < c.txt").exit_status != 0  # not JSON: jq says so
    assert run("echo '{\"b\": 2}' > d.json && jq -c . < d.json").output == '{"b":2}\n'


def test_the_aws_walkthrough_works_verbatim_with_file(run, shell, sandbox):
    """IAM User Guide, id_roles_use_switch-role-ec2.html: write the trust policy to a file, then
    create-role with file://ec2-role-trust-policy.json."""
    document = json.dumps(TRUST, indent=2)
    assert run(f"cat > ec2-role-trust-policy.json <<'EOF'\n{document}\nEOF").exit_status == 0
    created = run(
        "aws iam create-role --role-name r --assume-role-policy-document "
        "file://ec2-role-trust-policy.json"
    )
    assert created.exit_status == 0, created.output
    role = aws_client("iam", sandbox=sandbox).get_role(RoleName="r")["Role"]
    assert role["AssumeRolePolicyDocument"] == TRUST
    # The output of a command into a file, read back by another command.
    run("aws iam get-role --role-name r --query Role.AssumeRolePolicyDocument > policy.json")
    assert json.loads(_files(shell)["policy.json"]) == TRUST
    again = run(
        "aws iam update-assume-role-policy --role-name r --policy-document=file://~/policy.json"
    )
    assert again.exit_status == 0, again.output


def test_a_missing_file_gets_the_clis_own_words(run):
    result = run(
        "aws iam create-role --role-name x --assume-role-policy-document file://trust.json"
    )
    assert result.exit_status == 255  # the CLI v1's status for a parameter it cannot load
    assert (
        "Error parsing parameter '--assume-role-policy-document': Unable to load paramfile "
        "file://trust.json: [Errno 2] No such file or directory: 'trust.json'"
    ) in result.output


def test_fileb_sends_the_bytes_of_the_file(run, sandbox):
    """AWS CLI User Guide, cli-usage-parameters-file.html: fileb:// for binary content."""
    run("echo hello there > data.bin")
    launched = run(
        "aws ec2 run-instances --image-id ami-0453ec754f44f9a4a --instance-type t3.micro "
        "--user-data fileb://data.bin --query 'Instances[0].InstanceId' --output text"
    )
    assert launched.exit_status == 0, launched.output
    attribute = aws_client("ec2", sandbox=sandbox).describe_instance_attribute(
        InstanceId=launched.output.strip(), Attribute="userData"
    )
    assert base64.b64decode(attribute["UserData"]["Value"]) == b"hello there\n"


@pytest.mark.parametrize(
    "argument",
    [
        "file://../../etc/passwd",
        "file:///etc/passwd",
        "fileb:///etc/passwd",
        "file://~root/.ssh/id_rsa",
        "file:///home/learner/../../etc/passwd",
        "file://./../etc/hostname",
        "file:///proc/self/environ",
        "file://%2Fetc%2Fpasswd",
        "file://$HOME/../../etc/passwd",
    ],
)
def test_file_arguments_never_read_the_servers_files(run, argument):
    result = run(f"aws iam create-role --role-name x --assume-role-policy-document {argument}")
    assert result.exit_status != 0
    assert "root:" not in result.output and "PATH=" not in result.output
    assert "parameters are not available in this lab" in result.output or (
        "No such file or directory" in result.output
    )


@pytest.mark.parametrize(
    "line",
    [
        "cat /etc/passwd",
        "cat ../../etc/passwd",
        "cat ~root/.bashrc",
        "ls /etc",
        "cat < /etc/passwd",
        "echo x > /tmp/x",
        "echo x > ../x",
        "rm /etc/passwd",
        "cp /etc/passwd mine",
        "cat /proc/self/environ",
    ],
)
def test_paths_outside_the_home_are_refused_with_where_files_live(run, line):
    result = run(line)
    assert result.exit_status != 0
    assert "root:" not in result.output
    assert "not available in this lab" in result.output or "No such file" in result.output


def test_names_with_nul_bytes_or_symlink_tricks_are_refused(run, shell):
    assert "NUL" in run("echo x > 'a\x00b'").output
    nul = run("aws iam create-role --role-name x --assume-role-policy-document file://a\x00b")
    assert nul.exit_status != 0 and "parameters are not available in this lab" in nul.output
    # A name that looks like a link is only a name: it never leads out of the home.
    assert run("echo hi > 'link -> etc'").exit_status != 0
    assert run("echo hi > passwd && cat passwd").output == "hi\n"
    assert _files(shell) == {"passwd": "hi\n"}


def test_quotas_say_the_limit_and_write_nothing(run, shell, monkeypatch):
    run("X=" + "a" * 4_000)
    run("X=$X$X$X$X")  # 16,000 characters: a line takes 8 KB at most
    huge = run("echo $X$X$X$X$X > big.txt")  # 80,000 bytes
    assert "file too large for this lab" in huge.output and "64 KiB at most" in huge.output
    assert "big.txt" not in _files(shell)
    assert run("echo $X$X$X > big.txt").exit_status == 0  # 48,001 bytes: fits
    grown = run("echo $X$X > big.txt2 && cat big.txt2 >> big.txt")
    assert "file too large" in grown.output
    assert len(_files(shell)["big.txt"]) == 48_001  # the failed append left it as it was
    monkeypatch.setattr(home, "FILES_PER_HOST", 3)
    run("touch one")
    full = run("touch two")
    assert full.exit_status == 1 and "this lab keeps 3 files a host" in full.output


def test_each_host_has_its_own_home(run, shell, sandbox):
    from tests.helpers import launch_with_role

    instance_id = launch_with_role(sandbox)
    run("echo workstation > where.txt")
    assert run(f"connect {instance_id}").exit_status == 0
    assert run("ls").output == ""
    assert run("pwd").output == "/home/ec2-user\n"
    run("echo instance > ~/where.txt")
    assert run("cat /home/ec2-user/where.txt").output == "instance\n"
    run("exit")
    assert run("cat where.txt").output == "workstation\n"
    assert _files(shell, instance_id) == {"where.txt": "instance\n"}


def test_a_pasted_dollar_prompt_is_ignored(run):
    assert run("$ echo pasted").output == "pasted\n"
    assert run("  $ echo one\n$ echo two").output == "one\ntwo\n"
    assert run("echo '$ kept'").output == "$ kept\n"


def test_a_redirected_line_that_fails_to_parse_writes_nothing(run, shell):
    assert "syntax error" in run("echo x > && echo y").output
    assert "ambiguous redirect" in run('F="a b"; echo x > $F').output
    assert _files(shell) == {}


def test_clear_drops_a_half_typed_here_document(run, shell):
    from learnlab.terminal.services import shell_clear

    assert run("cat > x <<EOF").prompt == ">"
    shell.refresh_from_db()
    shell_clear(shell=shell)
    assert run("echo back").output == "back\n"
    assert _files(shell) == {}

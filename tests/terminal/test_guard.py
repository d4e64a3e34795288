"""Behind the interpreter's refusals: while a terminal command runs, its thread cannot read the
server's files, write any file, start a process or connect anywhere but the sandbox server."""

import json
import socket
import subprocess
import threading

import pytest

from learnlab.terminal import guard
from learnlab.terminal.aws import run_aws

pytestmark = pytest.mark.django_db


def test_a_confined_thread_cannot_touch_files_processes_or_the_network(tmp_path, settings):
    secret = tmp_path / "secret"
    secret.write_text("server secret")
    with guard.confined():
        with pytest.raises(guard.Confined):
            secret.read_text()
        with pytest.raises(guard.Confined):
            open("/etc/passwd").close()
        with pytest.raises(guard.Confined):
            (tmp_path / "new").write_text("x")
        with pytest.raises(guard.Confined):
            subprocess.run(["true"], check=False)
        with pytest.raises(guard.Confined), socket.socket() as sock:
            sock.connect(("127.0.0.1", 9))
        with open(json.__file__) as source:  # Python's own code stays readable
            assert source.read(1)
    assert secret.read_text() == "server secret"  # outside, nothing changed


def test_other_threads_are_not_confined(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("other thread")
    seen = []
    with guard.confined():
        worker = threading.Thread(target=lambda: seen.append(secret.read_text()))
        worker.start()
        worker.join()
    assert seen == ["other thread"]


def test_the_cli_itself_runs_confined(sandbox, monkeypatch, tmp_path):
    """Were a file option to slip past the screening, the CLI could still not read the file."""
    document = tmp_path / "trust.json"
    document.write_text('{"Version": "2012-10-17", "Statement": []}')
    from learnlab.gate.client import aws_client

    bucket = f"guard-{sandbox.account_id}"
    s3 = aws_client("s3", sandbox=sandbox)
    s3.create_bucket(Bucket=bucket)  # so only the file read can make the upload fail
    monkeypatch.setattr("learnlab.terminal.aws.screen", lambda args: None)
    result = run_aws(
        ["s3api", "put-object", "--bucket", bucket, "--key", "k", "--body", str(document)],
        sandbox=sandbox,
        environ={"AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert result.status != 0
    assert "trust.json" not in result.stdout
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0  # nothing was uploaded


def test_the_clis_own_file_loader_cannot_read_while_confined(tmp_path):
    from awscli.paramfile import LOCAL_PREFIX_MAP, ResourceLoadingError, get_paramfile

    document = tmp_path / "trust.json"
    document.write_text("{}")
    assert get_paramfile(f"file://{document}", LOCAL_PREFIX_MAP) == "{}"
    with guard.confined(), pytest.raises((guard.Confined, ResourceLoadingError)):
        get_paramfile(f"file://{document}", LOCAL_PREFIX_MAP)

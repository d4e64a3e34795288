"""The console's AWS-managed policy choices are asked once per process: they are the sandbox
server's fixed list (``sandbox/server.py`` MANAGED_POLICY_NAMES), the same in every sandbox, and
asking cost every lab page an in-process gate call (issue 16, the lab page's CPU)."""

from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from learnlab.labs import console
from learnlab.labs.checks import SandboxView


def test_managed_policies_are_asked_once_and_are_every_sandboxs(make_sandbox, monkeypatch):
    monkeypatch.setattr(console, "_managed_policies", [], raising=False)  # a fresh process
    first, second = make_sandbox(), make_sandbox()
    asked = console._managed_policy_choices(SandboxView(first))
    names = {name for _, name in asked}
    assert {"AmazonS3ReadOnlyAccess", "AdministratorAccess"} <= names
    # What the second sandbox itself answers is what the first answered...
    policies = SandboxView(second).iam.list_policies(Scope="AWS")["Policies"]
    assert sorted((p["Arn"], p["PolicyName"]) for p in policies) == asked
    # ...and the choices for it come without a gate call (the gate reads the key from the
    # database on every call, so a call would show here as queries).
    with CaptureQueriesContext(db) as queries:
        again = console._managed_policy_choices(SandboxView(second))
    assert again == asked
    assert len(queries) == 0, [q["sql"] for q in queries]
    again.clear()  # a caller's copy: the cache itself is untouched
    assert console._managed_policy_choices(SandboxView(second)) == asked

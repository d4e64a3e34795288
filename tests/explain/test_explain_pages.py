"""The explain pages as a learner meets them: the Explain link in the in-page terminal's
output after a denial and the trace page it opens (only for its own learner), the sandbox
page's recent errors, explain this error tied to a step, the chain debugger's links. Denials
worded as the IAM User Guide's "Access denied error message examples" page shows them."""

import json
import re

import pytest

from learnlab.denials.models import Denial
from learnlab.denials.selectors import EXPLAINED_CODES
from learnlab.explain.errors import EXPLANATIONS
from learnlab.gate.client import aws_client
from learnlab.labs.models import StepResult  # noqa: F401 - the lab's tables exist
from learnlab.terminal.services import shell_open, shell_run
from tests.helpers import launch_with_role

pytestmark = pytest.mark.django_db(transaction=True)
DENY_ROLES = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Sid": "NoRoleList", "Effect": "Deny", "Action": "iam:ListRoles", "Resource": "*"},
        ],
    }
)


def as_learner(client, sandbox):
    session = client.session
    session["learner_id"] = str(sandbox.learner.pk)
    session.save()
    return client


def deny_the_lab_user_list_roles(sandbox):
    aws_client("iam", sandbox=sandbox).put_user_policy(
        UserName="learnlab", PolicyName="no-list", PolicyDocument=DENY_ROLES
    )


def test_the_terminal_prints_an_explain_link_that_opens_the_trace(sandbox, client):
    deny_the_lab_user_list_roles(sandbox)
    result = shell_run(shell=shell_open(sandbox=sandbox), line="aws iam list-roles")
    output = result.entry["output"]
    assert "An error occurred (AccessDenied) when calling the ListRoles operation" in output
    denial = Denial.objects.get(sandbox=sandbox)
    assert f"Explain why it was denied: /explain/denials/{denial.slug}" in output
    assert "Explain AccessDenied: /explain/errors/AccessDenied" in output

    page = as_learner(client, sandbox).get("/terminal/")
    html = page.content.decode()
    assert f'<a class="terminal-explain" href="/explain/denials/{denial.slug}">' in html

    trace_page = client.get(f"/explain/denials/{denial.slug}")
    assert trace_page.status_code == 200
    text = trace_page.content.decode()
    assert 'data-verdict="explicit-deny"' in text
    assert "NoRoleList" in text and "no-list" in text
    assert "inline policy of the user" in text
    assert "aws:username" in text  # the request context
    assert "/explain/errors/AccessDenied" in text


def test_only_its_own_learner_sees_a_trace(sandbox, make_sandbox, client):
    deny_the_lab_user_list_roles(sandbox)
    shell_run(shell=shell_open(sandbox=sandbox), line="aws iam list-roles")
    slug = Denial.objects.get(sandbox=sandbox).slug
    other = make_sandbox()
    assert as_learner(client, other).get(f"/explain/denials/{slug}").status_code == 404
    client.logout()
    assert client.get(f"/explain/denials/{slug}").status_code == 404  # a new visitor
    assert client.get("/explain/denials/" + "x" * 300).status_code == 404


def test_the_sandbox_page_lists_recent_errors_with_explain(sandbox, client):
    deny_the_lab_user_list_roles(sandbox)
    with pytest.raises(Exception, match="AccessDenied"):
        aws_client("iam", sandbox=sandbox).list_roles()
    slug = Denial.objects.get(sandbox=sandbox).slug
    panel = as_learner(client, sandbox).get("/sandbox/panel").content.decode()
    assert 'data-testid="recent-denials"' in panel
    assert f'href="/explain/denials/{slug}"' in panel


def test_explain_this_error_is_tied_to_the_current_step(client):
    page = client.get(
        "/explain/errors/InvalidParameterValue?lab=instance-role&step=attach-to-instance"
    )
    text = page.content.decode()
    assert page.status_code == 200
    assert "step 3, Attach the profile to an instance" in text
    assert "EP04" in text and "instance profile" in text
    assert client.get("/explain/errors/NoSuchThing").status_code == 404
    assert client.get("/explain/errors/NoSuchEntity?lab=nope&step=%00").status_code == 200


def test_every_error_the_terminal_links_has_a_page(client):
    assert set(EXPLANATIONS) == EXPLAINED_CODES
    for code in EXPLANATIONS:
        assert client.get(f"/explain/errors/{code}").status_code == 200


def test_the_credentials_page_and_a_failed_check_link_the_chain_debugger(sandbox, client):
    instance = launch_with_role(sandbox, "linked")
    as_learner(client, sandbox)
    page = client.get(f"/sandbox/instances/{instance}/").content.decode()
    assert f'href="/explain/instances/{instance}"' in page
    chain = client.get(f"/explain/instances/{instance}")
    assert chain.status_code == 200
    text = chain.content.decode()
    assert 'data-testid="link-permissions" data-ok="false"' in text  # the role may do nothing
    assert 'aria-current="step"' in text
    listing = client.get("/explain/instances/").content.decode()
    assert f'href="/explain/instances/{instance}"' in listing
    # Another learner's instance is not found, nor a malformed id.
    assert client.get("/explain/instances/i-0123456789abcdef0").status_code == 404
    assert client.get("/explain/instances/nope").status_code == 404
    # A failed check on step 4 links the debugger.
    lab = client.get("/lab/instance-role/")
    assert lab.status_code == 200
    check = client.post("/lab/instance-role/steps/read-metadata/check", HTTP_HX_REQUEST="true")
    assert 'data-testid="chain-debugger-4"' in check.content.decode()
    assert re.search(r'href="/explain/instances/"', check.content.decode())


def test_explain_this_error_without_a_step_names_the_learners_current_one(sandbox, client):
    as_learner(client, sandbox)
    client.post("/lab/instance-role/steps/create-role/check", HTTP_HX_REQUEST="true")
    text = client.get("/explain/errors/MalformedPolicyDocument").content.decode()
    assert "step 1, Create the role" in text


def test_the_explain_error_tag_links_a_console_forms_failed_call(sandbox):
    """What a console form's failed call would show beside its error (templates/labs)."""
    from django.template import Context, Template

    from learnlab.labs.catalog import lab_get

    deny_the_lab_user_list_roles(sandbox)
    with pytest.raises(Exception, match="AccessDenied"):
        aws_client("iam", sandbox=sandbox).list_roles()
    slug = Denial.objects.get(sandbox=sandbox).slug
    lab = lab_get("instance-role")
    template = Template("{% load explain %}{% explain_error error step %}")
    error = "An error occurred (AccessDenied) when calling the ListRoles operation: User: ..."
    html = template.render(
        Context({"error": error, "sandbox": sandbox, "lab": lab, "step": lab.steps[2]})
    )
    assert f'href="/explain/denials/{slug}"' in html
    assert (
        'href="/explain/errors/AccessDenied?lab=instance-role&amp;step=attach-to-instance"' in html
    )
    plain = Template("{% load explain %}{% explain_error 'Something else broke' %}")
    assert plain.render(Context({})).strip() == ""

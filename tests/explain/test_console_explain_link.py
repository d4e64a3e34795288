"""A console form's failed AWS call links to what its error means (issue 19 item 3), as the
terminal's output does: through Django's test client, the in-process gate and the real sandbox
server."""

import json

from tests.labs.test_console_forms import _create_role, lab_client  # noqa: F401

OTHER_ACCOUNT = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:GetRole",
                "Resource": "arn:aws:iam::111122223333:role/x",
            }
        ],
    }
)


def test_a_failed_call_in_a_console_form_links_to_its_explanation(lab_client):  # noqa: F811
    page = _create_role(
        lab_client, **{"role_for_ec2-inline_policy": OTHER_ACCOUNT}
    ).content.decode()
    assert "PutRolePolicy failed" in page
    assert 'class="explain-links"' in page
    assert 'href="/explain/errors/AccessDenied"' in page  # tied to the current step there

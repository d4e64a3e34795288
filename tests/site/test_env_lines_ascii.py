"""/sandbox/env's lines are pasted into a learner's shell (and read by scripts): plain ASCII,
the learner's own lines, an instance's lines and the refusal of a bad instance id alike."""

import pytest

from learnlab.sandbox.models import Sandbox
from tests.helpers import launch_with_role

pytestmark = pytest.mark.django_db


def test_every_env_answer_is_plain_ascii(client, sandbox_server):
    client.get("/sandbox/panel")  # a session, a learner and a sandbox
    instance_id = launch_with_role(Sandbox.objects.get())

    own = client.get("/sandbox/env")
    on_instance = client.get(f"/sandbox/env?instance={instance_id}")
    not_an_id = client.get("/sandbox/env?instance=web-server")
    not_ascii = client.get("/sandbox/env?instance=i-0abc\u2026")

    assert (own.status_code, on_instance.status_code) == (200, 200)
    assert b"AWS_EC2_METADATA_SERVICE_ENDPOINT=" in on_instance.content
    assert (not_an_id.status_code, not_ascii.status_code) == (404, 404)
    assert b"they look like i-0abc1234def567890" in not_an_id.content
    for answer in (own, on_instance, not_an_id, not_ascii):
        assert answer.content.isascii(), answer.content

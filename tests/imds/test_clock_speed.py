"""Each learner can run their own lab clock from 1x to 360x; credentials follow it."""

import pytest

from learnlab.sandbox.models import Sandbox
from tests.helpers import launch_with_role


@pytest.fixture
def learner_sandbox(client, sandbox_server, db):
    assert client.get("/lab/instance-role/").status_code == 200
    return Sandbox.objects.get(learner_id=client.session["learner_id"])


def test_a_learner_sets_the_clock_and_new_credentials_follow_it(client, learner_sandbox):
    from learnlab.imds.credentials import credentials_current

    response = client.post("/sandbox/clock", {"speed": "360", "next": "/lab/instance-role/"})
    assert response.status_code == 302 and response["Location"] == "/lab/instance-role/"
    learner_sandbox.refresh_from_db()
    assert learner_sandbox.clock_speed == 360
    instance_id = launch_with_role(learner_sandbox)
    issued = credentials_current(sandbox=learner_sandbox, instance_id=instance_id, role_name="app")
    lifetime = (issued.expires_at - issued.issued_at).total_seconds()
    # 6 lab-hours would be 60 s: the floor (renewal interval + 30 real minutes) wins at 360x.
    assert lifetime == pytest.approx(10 + 30 * 60, abs=1)  # Expiration in whole seconds
    renew_in = (issued.renew_at - issued.issued_at).total_seconds()
    assert 5 <= renew_in <= 10  # every lab-hour, spread over its second half


@pytest.mark.parametrize(
    ("speed", "complaint"),
    [("0", "from 1x to 360x"), ("361", "from 1x to 360x"), ("fast", "Choose a speed")],
)
def test_a_bad_speed_is_refused_with_a_message_and_nothing_changes(
    client, learner_sandbox, speed, complaint
):
    response = client.post("/sandbox/clock", {"speed": speed}, follow=True)
    assert complaint in response.content.decode()
    learner_sandbox.refresh_from_db()
    assert learner_sandbox.clock_speed is None


def test_the_clock_form_never_redirects_off_site(client, learner_sandbox):
    response = client.post("/sandbox/clock", {"speed": "60", "next": "https://evil.example/"})
    assert response["Location"] == "/sandbox/"

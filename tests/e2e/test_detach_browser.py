"""Real Chromium: the learner detaches the instance profile while the credentials page is open
and the cached-credentials demo runs (issue 15.2). Without a reload, through its own live
updates, the page says no profile is attached and renewal has stopped, counts the last set down
to its own Expiration, and after it both demo apps fail; it never says "No credentials yet".

AWS: "If you disassociate the instance profile, the instance no longer receives credentials";
credentials already issued stay valid until their Expiration (EC2 User Guide,
iam-roles-for-amazon-ec2.md; EC2 API Reference, DisassociateIamInstanceProfile; IAM User Guide,
troubleshoot_iam-ec2.md: with no profile the ``iam`` subtree of the metadata is absent). An
expired session token is answered ``ExpiredToken`` (STS and the AWS CLI's own wording, "The
security token included in the request is expired").
"""

import re
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from learnlab.imds.credentials import credentials_issue
from learnlab.imds.models import InstanceCredentials
from learnlab.sandbox.models import Sandbox
from learnlab.ticker.services import clock_run
from tests.e2e.axe import axe_violations
from tests.helpers import gate_client, launch_with_role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LAST_SET_SECONDS = 24  # test data: the last set's lifetime: its expiry comes within the test,
# after a setup (page, demo, axe) that takes up to ~15 s on a loaded machine
NO_CREDENTIALS_YET = "No credentials yet"
WORKER_DOWN = "The credential worker is not running"

# Installed once the page is open: whatever the polled panel ever says is recorded, and a marker
# on window shows the page was never reloaded or left.
WATCH = """(phrases) => {
  window.__detachWalk = {seen: [], keys: []};
  const record = () => {
    const panel = document.getElementById("credentials-panel");
    if (!panel) return;
    const text = panel.textContent;
    for (const phrase of phrases) {
      if (text.includes(phrase) && !window.__detachWalk.seen.includes(phrase)) {
        window.__detachWalk.seen.push(phrase);
      }
    }
    const left = panel.querySelector('[data-testid="expires-in"]');
    if (left) window.__detachWalk.keys.push(left.textContent.trim());
  };
  new MutationObserver(record).observe(document.body, {childList: true, subtree: true});
  record();
}"""


@contextmanager
def lab_clock():
    """The lab clock's own loop (``clock_run``: lease, heartbeat, renewals, withdrawals,
    forgetting), a tick a second in a thread, as the task cluster runs it in production."""
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            clock_run(seconds=1.0)
        connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def _seconds(text: str) -> int:
    match = re.fullmatch(r"(\d+) s", text.strip())
    assert match, f"not a countdown: {text!r}"
    return int(match.group(1))


def test_detaching_the_profile_counts_the_last_set_down_and_both_demo_apps_fail_after_it(
    live_server, sandbox_server, gate_url, settings, page
):
    settings.LEARNLAB_CLOCK_SPEED = 60  # a renewal every 30-60 s: none falls due in this test
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_server.url + "/sandbox/")  # the learner's sandbox, made on first visit
    expect(page.get_by_test_id("account-id")).to_be_visible(timeout=10_000)
    sandbox = Sandbox.objects.get()
    instance_id = launch_with_role(sandbox, "app")

    # Test data. An earlier set, renewed before anybody was handed it (credentials_renew's
    # claim), so the clock withdraws it; then the set the instance serves now, short-lived.
    earlier = credentials_issue(sandbox=sandbox, instance_id=instance_id, role_name="app")
    InstanceCredentials.objects.filter(pk=earlier.pk).update(superseded_at=timezone.now())
    last = credentials_issue(
        sandbox=sandbox,
        instance_id=instance_id,
        role_name="app",
        lifetime=timedelta(seconds=LAST_SET_SECONDS),
    )
    last_key = last.access_key.access_key_id

    with lab_clock():
        page.reload()
        page.get_by_role("link", name=instance_id).click()
        expect(page.get_by_role("heading", name="Current credentials")).to_be_visible()
        expect(page.get_by_test_id("key-id")).to_have_text(last_key)
        expect(page.locator("#credentials-panel")).to_have_attribute("data-renewal", "active")
        # The clock withdrew the earlier set: drawn as withdrawn, not as an expired set.
        withdrawn = page.locator("svg.timeline rect.set-withdrawn")
        expect(withdrawn).to_have_count(1)
        expect(withdrawn.locator("title")).to_have_text(
            f"{earlier.access_key.access_key_id}: never handed out, withdrawn when renewed"
        )
        expect(page.locator("svg.timeline rect.set-current")).to_have_count(1)

        page.get_by_role("button", name="Start the demo").click()
        expect(page.get_by_test_id("demo-cached")).to_contain_text("works as arn:aws:sts::")
        expect(page.get_by_test_id("demo-fresh")).to_contain_text("works as arn:aws:sts::")
        assert axe_violations(page) == []

        page.evaluate(WATCH, [NO_CREDENTIALS_YET, WORKER_DOWN])
        page.evaluate("window.__samePage = true")

        # The learner detaches the profile, through the real gate, as the learner.
        ec2 = gate_client(gate_url, sandbox, "ec2")
        (association,) = ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [instance_id]}]
        )["IamInstanceProfileAssociations"]
        assert InstanceCredentials.objects.get(pk=last.pk).superseded_at is None, (
            "the set was renewed before the detach: the setup took too long"
        )
        assert timezone.now() < last.expires_at - timedelta(seconds=8), "setup took too long"
        ec2.disassociate_iam_instance_profile(AssociationId=association["AssociationId"])

        stopped = page.get_by_test_id("renewal-stopped")
        expect(stopped).to_contain_text(
            f"No instance profile is attached to {instance_id}: renewal has stopped"
        )
        expect(stopped).to_contain_text("stays valid until its own Expiration")
        expect(page.get_by_role("heading", name="Last credentials")).to_be_visible()
        expect(page.get_by_role("heading", name="Current credentials")).to_have_count(0)
        expect(page.get_by_test_id("renews-in")).to_have_text("none: renewal has stopped")
        expect(page.get_by_test_id("key-id")).to_have_text(last_key)
        expect(page.get_by_test_id("expiration")).to_have_text(
            last.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        # The re-reading app finds no credentials at once; the cached one works until expiry.
        expect(page.get_by_test_id("demo-fresh")).to_contain_text(
            "NoCredentialsError: Unable to locate credentials"
        )
        expect(page.get_by_test_id("demo-cached")).to_contain_text("works as arn:aws:sts::")

        # Counted down, live, to the stated Expiration.
        left = page.get_by_test_id("expires-in")
        first = _seconds(left.text_content())
        assert 0 < first <= (last.expires_at - timezone.now()).total_seconds() + 1
        page.wait_for_function(
            """(first) => {
              const left = document.querySelector('[data-testid="expires-in"]');
              const match = left && left.textContent.trim().match(/^(\\d+) s$/);
              return match && Number(match[1]) <= first - 2;
            }""",
            arg=first,
            timeout=10_000,
        )

        # After its Expiration: the story goes on, and both apps fail.
        wait_ms = (last.expires_at - timezone.now()).total_seconds() * 1000 + 6_000
        expect(page.get_by_test_id("expired-ago")).to_have_text(
            re.compile(r"^\d+ s ago$"), timeout=wait_ms
        )
        expect(stopped).to_contain_text("The last set it served has expired")
        expect(stopped).to_contain_text(
            f"No instance profile is attached to {instance_id}: renewal has stopped"
        )
        expect(page.get_by_test_id("key-id")).to_have_text(last_key)
        expect(page.get_by_test_id("demo-cached")).to_contain_text(
            "ExpiredToken: The security token included in the request is expired"
        )
        expect(page.get_by_test_id("demo-fresh")).to_contain_text("NoCredentialsError")
        expect(page.get_by_test_id("demo")).not_to_contain_text("works as")

        # The clock forgets the expired set; the page still tells the same story.
        deadline = time.monotonic() + 10
        while InstanceCredentials.objects.get(pk=last.pk).forgotten_at is None:
            assert time.monotonic() < deadline, "the clock never forgot the expired set"
            time.sleep(0.3)
        page.wait_for_timeout(1_500)  # a poll after the forgetting
        expect(stopped).to_contain_text("The last set it served has expired")
        expect(page.locator("svg.timeline rect.set-expired")).to_have_count(1)
        expect(page.locator("svg.timeline rect.set-withdrawn")).to_have_count(1)
        expect(page.locator("svg.timeline rect.set-current")).to_have_count(0)
        assert axe_violations(page) == []

    walk = page.evaluate("window.__detachWalk")
    assert page.evaluate("window.__samePage === true"), "the page was reloaded"
    assert NO_CREDENTIALS_YET not in walk["seen"]
    assert WORKER_DOWN not in walk["seen"]  # the clock really ran
    counted = [_seconds(k) for k in walk["keys"]]
    assert len(set(counted)) >= 3 and counted == sorted(counted, reverse=True)
    assert InstanceCredentials.objects.filter(instance_id=instance_id).count() == 2  # none new
    assert errors == []

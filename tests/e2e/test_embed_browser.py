"""Real Chromium: a host page on another origin embeds one lab step, the learner passes it,
and the host page receives ``step.passed`` by postMessage; a page on an unlisted origin that
frames LearnLab is refused by the browser itself (CSP frame-ancestors)."""

from urllib.parse import urlsplit

import boto3
import pytest
from playwright.sync_api import expect

from learnlab.lib.iam_policy import EC2_TRUST_POLICY

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _origins(live_server) -> tuple[str, str]:
    """(the host page's origin, LearnLab's): one server, two names, two origins."""
    port = urlsplit(live_server.url).port
    return f"http://127.0.0.1:{port}", f"http://localhost:{port}"


def test_a_host_on_another_origin_receives_step_passed(live_server, sandbox_server, page, settings):
    host, tool = _origins(live_server)
    settings.LEARNLAB_EMBED_ORIGINS = [host]
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{host}/embed/demo-host?step=create-role")
    frame = page.frame_locator("#learnlab-frame")
    expect(frame.get_by_role("heading", name="Step 1: Create the role")).to_be_visible()
    expect(page.locator("#learnlab-events [data-event='embed.ready']")).to_have_count(1)
    # The learner works in their own terminal with the keys the frame shows them.
    frame.locator("details.embed-keys > summary").click()
    key_id = frame.locator("[data-key-id]").inner_text()
    secret = frame.locator("[data-key-secret]").inner_text()
    iam = boto3.client(
        "iam",
        endpoint_url=f"{tool}/aws",
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )
    iam.create_role(RoleName="S3ReadForEC2", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.attach_role_policy(
        RoleName="S3ReadForEC2", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    frame.get_by_role("button", name="Check step 1").click()
    expect(frame.get_by_test_id("check-1")).to_contain_text("Passed.", timeout=15_000)
    event = page.locator("#learnlab-events [data-event='step.passed']")
    expect(event).to_have_count(1)
    expect(event).to_contain_text('"lab":"instance-role"')
    expect(event).to_contain_text('"step":"create-role"')
    # The frame's address now carries the fresh token: a reload keeps the same learner.
    frame_page = next(f for f in page.frames if f.url.startswith(tool))
    assert "?t=" in frame_page.url
    frame_page.goto(frame_page.url)
    expect(frame.get_by_test_id("check-1")).to_contain_text("Passed.")
    assert errors == []


def test_a_page_on_an_unlisted_origin_cannot_frame_learnlab(
    live_server, sandbox_server, page, settings
):
    host, tool = _origins(live_server)
    listed = "https://tutorials.example"
    settings.LEARNLAB_EMBED_ORIGINS = [listed]
    answered = []
    page.on("response", lambda r: "/embed/instance-role/" in r.url and answered.append(r))

    # The demo host page, on an origin nobody listed: LearnLab refuses, unframeable.
    page.goto(f"{host}/embed/demo-host?step=create-role")
    expect(page.get_by_test_id("demo-not-listed")).to_be_visible()
    page.wait_for_timeout(1000)
    assert answered[0].status == 403
    assert "frame-ancestors 'none'" in answered[0].headers["content-security-policy"]
    frame = page.frame_locator("#learnlab-frame")
    expect(frame.get_by_test_id("embed-refused")).to_have_count(0)  # not even the refusal shows

    # A page on that origin claiming to be the listed host: LearnLab answers for the listed
    # host only, and Chromium itself refuses to show it here.
    answered.clear()
    page.route(
        f"{host}/lying-host",
        lambda route: route.fulfill(
            content_type="text/html",
            body=f'<iframe id="f" src="{tool}/embed/instance-role/create-role/?host={listed}">'
            "</iframe>",
        ),
    )
    src = f"{tool}/embed/instance-role/create-role/?host={listed}"
    direct = page.request.get(src)  # what LearnLab answers that frame
    assert direct.status == 200
    assert f"frame-ancestors {listed}" in direct.headers["content-security-policy"]
    page.goto(f"{host}/lying-host")
    page.wait_for_timeout(1000)
    expect(page.frame_locator("#f").get_by_role("button", name="Check step 1")).to_have_count(0)
    framed = [f for f in page.frames if f != page.main_frame]
    assert framed and framed[0].url.startswith("chrome-error:"), framed[0].url

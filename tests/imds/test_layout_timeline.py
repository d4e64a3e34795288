"""The credentials timeline's geometry (``imds.selectors.credentials_panel``) at every clock speed
the pages offer, on a real sandbox's sets: a tick at every renewal whose labels fit between their
neighbours, every label inside the drawing, a live set's expiry written where it fits in its own
row (on its bar, inside it) and never across the now line, and key ids that fit their column.
The browser side (sizes as drawn, contrast, a phone's scrolling) is
tests/e2e/test_layout_browser.py."""

import itertools

import pytest
from django.utils import timezone

from learnlab.imds import selectors
from learnlab.imds.credentials import credentials_issue
from learnlab.imds.models import InstanceCredentials
from learnlab.lib import clock
from tests.helpers import launch_with_role

pytestmark = pytest.mark.django_db


def _span(x: float, text: str, anchor: str) -> tuple[float, float]:
    width = len(text) * selectors.CHAR_WIDTH
    if anchor == "end":
        return x - width, x
    if anchor == "middle":
        return x - width / 2, x + width / 2
    return x, x + width


@pytest.mark.parametrize("speed", clock.SPEED_CHOICES)
def test_the_timeline_labels_fit_at_every_offered_clock_speed(sandbox, speed):
    sandbox.clock_speed = speed
    sandbox.save(update_fields=["clock_speed"])
    instance_id = launch_with_role(sandbox, "app")
    now = timezone.now()
    every = clock.renew_after(at_speed=speed)

    # One expired set, then sets renewed every interval as the clock leaves them, the newest
    # current (the panel shows the newest six).
    credentials_issue(
        sandbox=sandbox, instance_id=instance_id, role_name="app", now=now - every * 6,
        lifetime=every * 2,
    )  # fmt: skip
    previous = None
    for k in range(4, -1, -1):
        issued = now - every * k - every / 2
        s = credentials_issue(sandbox=sandbox, instance_id=instance_id, role_name="app", now=issued)
        if previous is not None:
            InstanceCredentials.objects.filter(pk=previous.pk).update(superseded_at=issued)
        previous = s

    panel = selectors.credentials_panel(sandbox=sandbox, instance_id=instance_id, now=now)
    bars, ticks, now_x = panel["bars"], panel["ticks"], panel["now_x"]
    assert sorted(bar.kind for bar in bars) == ["current", "expired", *["valid"] * 4]

    # The axis: a tick every renewal, 6 back and 2 ahead, each label distinct, inside the
    # drawing and clear of its neighbours.
    assert len(ticks) == selectors.TIMELINE_PAST_RENEWALS + selectors.TIMELINE_AHEAD_RENEWALS + 1
    assert [t.label for t in ticks if t.now] == ["now"]
    assert len({t.label for t in ticks}) == len(ticks)
    spans = [_span(t.x, t.label, "middle") for t in ticks]
    assert spans[0][0] >= 0 and spans[-1][1] <= selectors.TIMELINE_WIDTH, spans
    for left, right in itertools.pairwise(spans):
        assert left[1] + 4 <= right[0], (left, right)

    # Every live set's expiry is written, in its row, where it fits.
    for bar in bars:
        if bar.kind not in ("current", "valid"):
            assert bar.label == ""
            continue
        assert bar.label == f"expires {bar.expires}", bar
        start, end = _span(bar.label_x, bar.label, bar.label_anchor)
        assert start >= selectors.BARS_LEFT and end <= selectors.BARS_RIGHT, bar
        assert end < now_x or start > now_x, f"{bar.label} crosses the now line"
        if bar.on_bar:
            assert bar.x <= start and end <= bar.x + bar.width, bar
    # Key ids ("…" and 6 characters) fit their column.
    assert 7 * selectors.CHAR_WIDTH + 4 <= selectors.GUTTER

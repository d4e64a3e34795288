"""Pruning old credential rows keeps what the lab's checks read: after it, step 4 still finds
the set the learner fetched last and step 6 the two sets the learner saw last."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from learnlab.imds.credentials import credentials_prune, credentials_renew, credentials_show
from learnlab.imds.models import InstanceCredentials
from learnlab.labs.catalog import lab_get
from learnlab.labs.checks import SandboxView
from learnlab.labs.services import check_run
from learnlab.sandbox.models import AccessKey

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

CREDENTIALS = "/latest/meta-data/iam/security-credentials/s3-reader"


def _check(sandbox, number: int):
    return check_run(view=SandboxView(sandbox), step=lab_get("instance-role").steps[number - 1])


def _renew(lab) -> InstanceCredentials:
    current = InstanceCredentials.objects.get(
        sandbox=lab["sandbox"], instance_id=lab["instance_id"], superseded_at=None
    )
    return credentials_renew(
        sandbox=lab["sandbox"],
        instance_id=lab["instance_id"],
        role_name="s3-reader",
        current=current,
    )


def test_after_pruning_steps_4_and_6_still_pass_on_the_sets_the_learner_saw(curl, lab):
    sandbox = lab["sandbox"]
    never_seen = credentials_renew(
        sandbox=sandbox, instance_id=lab["instance_id"], role_name="s3-reader", current=None
    )
    second = _renew(lab)
    fetched = json.loads(curl(CREDENTIALS)[1])  # curl on the instance: the second set
    assert fetched["AccessKeyId"] == second.access_key.access_key_id
    shown = [_renew(lab), _renew(lab)]
    for credentials in shown:  # opened on the instance's credentials page, in turn
        assert credentials_show(credentials=credentials)
    live = _renew(lab)  # nobody has seen the newest set yet
    before = {step: _check(sandbox, step) for step in (4, 6)}
    assert before[4].passed and before[6].passed, before

    long_ago = timezone.now() - timedelta(hours=1)  # well past PRUNE_AFTER
    InstanceCredentials.objects.exclude(pk=live.pk).update(
        expires_at=long_ago, forgotten_at=long_ago
    )
    # The first and the live set are kept anyway; the three seen ones are what checks read.
    assert credentials_prune(now=timezone.now()) == 0
    assert InstanceCredentials.objects.filter(pk=never_seen.pk).exists()

    step_4, step_6 = _check(sandbox, 4), _check(sandbox, 6)
    assert step_4.passed, step_4.message
    assert fetched["AccessKeyId"] in step_4.message
    assert step_6.passed, step_6.message
    older, newer = (c.access_key.access_key_id for c in shown)
    assert f"{older} (at" in step_6.message and f"{newer} (at" in step_6.message


def test_pruning_still_deletes_a_set_nobody_saw_between_the_kept_ones(curl, lab):
    sandbox = lab["sandbox"]
    first = json.loads(curl(CREDENTIALS)[1])  # the first set, fetched
    unseen = [_renew(lab), _renew(lab)]
    seen = [_renew(lab), _renew(lab)]
    for credentials in seen:
        credentials_show(credentials=credentials)
    live = _renew(lab)
    long_ago = timezone.now() - timedelta(hours=1)
    InstanceCredentials.objects.exclude(pk=live.pk).update(
        expires_at=long_ago, forgotten_at=long_ago
    )

    assert credentials_prune(now=timezone.now()) == 2
    assert not AccessKey.objects.filter(pk__in=[c.access_key_id for c in unseen]).exists()
    left = set(InstanceCredentials.objects.filter(sandbox=sandbox).values_list("pk", flat=True))
    kept_first = InstanceCredentials.objects.get(access_key__access_key_id=first["AccessKeyId"])
    assert left == {kept_first.pk, *(c.pk for c in seen), live.pk}
    assert _check(sandbox, 4).passed and _check(sandbox, 6).passed

"""Sign-up and log-in: the browser's anonymous learner, its work and its sandbox join the account.

This sits above classroom, labs and quiz because the merge moves their records.
"""

import logging

from django.db import transaction

from learnlab.classroom.services import membership_merge
from learnlab.imds.services import instance_access_revoke
from learnlab.labs.models import StepResult
from learnlab.learners.models import Learner
from learnlab.learners.selectors import SESSION_KEY
from learnlab.learners.shell_token import shell_token_revoke
from learnlab.quiz.models import Answer, Exam, ReviewCard
from learnlab.quiz.services import lab_mistakes_merge
from learnlab.sandbox import connection
from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.services import sandbox_drop, sandbox_keys_rotate

log = logging.getLogger(__name__)


def learner_merge(*, source: Learner, target: Learner) -> None:
    """Fold an anonymous learner's progress and sandbox into an account's learner.

    Quiz answers and exams move over; for each item the more recently reviewed schedule wins.
    The sandbox, with its lab progress, moves over unless the account already has one, in which
    case the anonymous one is dropped.
    """
    if source.pk == target.pk:
        return
    keep_target_sandbox = Sandbox.objects.filter(learner=target).exists()
    source_sandbox = Sandbox.objects.filter(learner=source).first()
    if keep_target_sandbox and source_sandbox is not None:
        try:
            sandbox_drop(sandbox=source_sandbox)
        except connection.SANDBOX_ERRORS:
            log.warning("could not drop sandbox %s while merging", source_sandbox.account_id)
    _merge_records(source=source, target=target, move_sandbox=not keep_target_sandbox)


@transaction.atomic
def _merge_records(*, source: Learner, target: Learner, move_sandbox: bool) -> None:
    Answer.objects.filter(learner=source).update(learner=target)
    Exam.objects.filter(learner=source).update(learner=target)
    for card in ReviewCard.objects.filter(learner=source):
        existing = ReviewCard.objects.filter(learner=target, item_id=card.item_id).first()
        if existing is None:
            card.learner = target
            card.save(update_fields=["learner"])
        elif card.reviewed_at > existing.reviewed_at:
            existing.card, existing.due = card.card, card.due
            existing.reviewed_at = card.reviewed_at
            existing.save(update_fields=["card", "due", "reviewed_at"])
    if move_sandbox:  # lab progress describes a sandbox: it goes where the sandbox goes
        Sandbox.objects.filter(learner=source).update(learner=target)
        StepResult.objects.filter(learner=target).delete()
        StepResult.objects.filter(learner=source).update(learner=target)
    membership_merge(source=source, target=target)
    if not target.display_name and source.display_name:
        target.display_name = source.display_name
        target.save(update_fields=["display_name"])
    lab_mistakes_merge(source=source, target=target)  # what makes the due cards due, kept
    source.delete()


def learner_sign_in(*, request, user) -> Learner:
    """After sign-up or log-in: the browser's anonymous learner joins the account's; a sandbox
    it brings gets new keys and its instances new metadata URLs and credentials, and the
    personal terminal token made with its cookie stops working."""
    anonymous = Learner.objects.filter(pk=request.session.get(SESSION_KEY), user=None).first()
    if anonymous is not None and anonymous.shell_token_hash:
        # Made by whoever held the cookie (a planted one, say): like the keys, it is not the
        # account's. The learner makes a new one on the sandbox page.
        shell_token_revoke(learner=anonymous)
    carried = Sandbox.objects.filter(learner=anonymous).first() if anonymous else None
    target = Learner.objects.filter(user=user).first()
    if target is None:
        if anonymous is not None:
            anonymous.user = user
            anonymous.save(update_fields=["user"])
            target = anonymous
        else:
            target = Learner.objects.create(user=user)
    elif anonymous is not None:
        learner_merge(source=anonymous, target=target)
    request.session[SESSION_KEY] = str(target.pk)
    if carried is not None and Sandbox.objects.filter(pk=carried.pk, learner=target).exists():
        _rotate_carried_secrets(sandbox=carried)
    return target


def _rotate_carried_secrets(*, sandbox: Sandbox) -> None:
    """An anonymous sandbox's keys, its instances' metadata URLs and the role credentials they
    served were known to whoever held its cookie (a planted one, say): the account gets new
    ones, and the old ones stop working."""
    instance_access_revoke(sandbox=sandbox)
    try:
        sandbox_keys_rotate(sandbox=sandbox)
    except connection.SANDBOX_ERRORS:
        log.warning("could not rotate the keys of sandbox %s at sign-in", sandbox.account_id)

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from learnlab.learners.models import Learner
from learnlab.lib.throttle import client_address, refuse_if_window_full

SESSION_KEY = "learner_id"
NEW_LEARNERS_WINDOW = timedelta(minutes=10)


def learner_from_request(request, *, create: bool, per_client_limit: bool = True) -> Learner | None:
    """The learner behind this request: the signed-in user's, else this browser session's;
    with ``create``, a new one on first visit (each may hold a sandbox, so a client address
    gets LEARNLAB_NEW_LEARNERS_PER_CLIENT in 10 minutes, then ``Throttled``; a class join has
    its class's limit instead, as a class may share one address)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        learner, _ = Learner.objects.get_or_create(user=user)
        if request.session.get(SESSION_KEY) != str(learner.pk):
            request.session[SESSION_KEY] = str(learner.pk)  # a write only when it changes
        return learner
    learner_id = request.session.get(SESSION_KEY)
    learner = Learner.objects.filter(pk=learner_id, user=None).first() if learner_id else None
    if learner is None and create:
        address = client_address(request) or None
        if per_client_limit:
            _refuse_if_too_many_new(address)
        learner = Learner.objects.create(created_from=address)
        request.session[SESSION_KEY] = str(learner.pk)
    return learner


def _refuse_if_too_many_new(address: str | None) -> None:
    if address is None:
        return
    since = timezone.now() - NEW_LEARNERS_WINDOW
    refuse_if_window_full(
        Learner.objects.filter(created_from=address, created_at__gte=since),
        field="created_at",
        limit=settings.LEARNLAB_NEW_LEARNERS_PER_CLIENT,
        window=NEW_LEARNERS_WINDOW,
        message="Too many new lab sandboxes from your address. Try again in {wait}, "
        "or keep using the browser you started in (its cookie keeps your sandbox).",
    )

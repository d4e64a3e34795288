from learnlab.learners.models import Learner

SESSION_KEY = "learner_id"


def learner_from_request(request, *, create: bool) -> Learner | None:
    """The learner behind this request: the signed-in user's, else this browser session's;
    with ``create``, a new one on first visit."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        learner, _ = Learner.objects.get_or_create(user=user)
        if request.session.get(SESSION_KEY) != str(learner.pk):
            request.session[SESSION_KEY] = str(learner.pk)  # a write only when it changes
        return learner
    learner_id = request.session.get(SESSION_KEY)
    learner = Learner.objects.filter(pk=learner_id, user=None).first() if learner_id else None
    if learner is None and create:
        learner = Learner.objects.create()
        request.session[SESSION_KEY] = str(learner.pk)
    return learner

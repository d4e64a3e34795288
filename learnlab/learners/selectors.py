from learnlab.learners.models import Learner

SESSION_KEY = "learner_id"


def learner_from_request(request, *, create: bool) -> Learner | None:
    """The learner behind this browser session; with ``create``, a new one on first visit."""
    learner_id = request.session.get(SESSION_KEY)
    learner = Learner.objects.filter(pk=learner_id).first() if learner_id else None
    if learner is None and create:
        learner = Learner.objects.create()
        request.session[SESSION_KEY] = str(learner.pk)
    return learner

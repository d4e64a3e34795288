"""``{% lab_rewind_points lab as points %}``: the steps the learner on this page may rewind to
(``labs/rewind.py``), for the lab page's Rewind menu."""

from django import template

from learnlab.labs.rewind import rewind_points
from learnlab.learners.selectors import learner_from_request

register = template.Library()


@register.simple_tag(takes_context=True)
def lab_rewind_points(context, lab) -> list:
    request = context.get("request")
    if request is None:
        return []
    return rewind_points(learner=learner_from_request(request, create=False), lab=lab)

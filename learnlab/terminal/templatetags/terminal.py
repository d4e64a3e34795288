from django import template

from learnlab.learners.selectors import learner_from_request
from learnlab.terminal.selectors import shell_for_learner, terminal_context

register = template.Library()


@register.simple_tag(takes_context=True)
def terminal_state(context):
    """The terminal's state for ``terminal/_terminal.html`` when the including view did not
    pass ``terminal`` (from ``terminal_context``) itself."""
    request = context.get("request")
    learner = learner_from_request(request, create=False) if request is not None else None
    return terminal_context(shell=shell_for_learner(learner=learner))

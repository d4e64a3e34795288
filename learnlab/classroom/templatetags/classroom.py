import functools
from datetime import timedelta

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from learnlab.classroom.selectors import classroom_for_learner
from learnlab.learners.selectors import learner_from_request

register = template.Library()


@register.filter
def duration_short(value: timedelta) -> str:
    """3 s, 4 min, 1 h 5 min: how long, at a glance."""
    seconds = max(0, int(value.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


@register.simple_tag(takes_context=True)
def learner_classroom(context):
    """The open class of the request's learner, if any: the lab page's banner and the hints
    the instructor opened."""
    request = context.get("request")
    learner = learner_from_request(request, create=False) if request is not None else None
    return classroom_for_learner(learner=learner)


@functools.cache
def _plain_cell(state: str, label: str) -> str:
    return format_html('<td class="cell cell-{}">{}</td>', state, label)


@register.simple_tag
def board_row(row, *, open_class: bool, reset_base: str) -> str:
    """One learner's row of the live board. A tag, not template markup: the board renders 300
    rows every few seconds, and Django's per-node cost dominates at that size (bench/board.py)."""
    name = row.membership.display_name
    cells = "".join(
        format_html(
            '<td class="cell cell-{}" title="{}">{}<span class="cell-reason">{}</span></td>',
            cell.state,
            cell.reason,
            cell.label,
            Truncator(cell.reason).chars(90),
        )
        if cell.reason
        else _plain_cell(cell.state, cell.label)
        for cell in row.cells
    )
    reset = ""
    if open_class:
        reset = format_html(
            '<button type="submit" form="reset-form" formaction="{}{}/reset" '
            'class="button button-small button-danger">Reset<span class="visually-hidden"> '
            "{}&#x27;s sandbox</span></button>",
            reset_base,
            row.membership.pk,
            name,
        )
    return format_html(
        '<tr data-testid="row-{}"{}><th scope="row">{}</th>{}<td>{}</td><td>{}</td><td>{}</td>'
        "<td>{}</td></tr>",
        name,
        mark_safe(' class="is-stuck"') if row.stuck else "",
        name,
        mark_safe(cells),  # noqa: S308 - built by format_html
        row.quiz_score,
        duration_short(row.on_step_for),
        duration_short(row.idle_for),
        reset,
    )

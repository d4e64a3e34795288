import functools
from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from learnlab.classroom.selectors import classroom_for_learner, learner_live
from learnlab.classroom.selectors import is_instructor as user_is_instructor
from learnlab.classroom.services import UNDO_SECONDS
from learnlab.labs.catalog import lab_get
from learnlab.labs.guided import duration_said
from learnlab.learners.selectors import learner_from_request
from learnlab.lib import clock

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


@register.simple_tag(takes_context=True)
def class_live(context):
    """The learner's class state for their page's class area (None when not in a class)."""
    request = context.get("request")
    learner = learner_from_request(request, create=False) if request is not None else None
    return learner_live(learner=learner, now=timezone.now())


@register.simple_tag(takes_context=True)
def teaches(context) -> bool:
    """Whether the signed-in user is an instructor: the nav's link to their classes."""
    request = context.get("request")
    return request is not None and user_is_instructor(request.user)


@register.filter
def hint_html(reveal, classroom):
    """The opened step's hint, its placeholders filled from the class's clock."""
    from_lab = _lab_step(classroom.lab, reveal.step)
    if from_lab is None:
        return ""
    return mark_safe(from_lab.text(_clock_values(classroom.clock_speed))["hint"])  # noqa: S308


@functools.cache
def _plain_cell(state: str, label: str) -> str:
    return format_html('<td class="cell cell-{}">{}</td>', state, label)


@register.simple_tag
def board_row(row, *, open_class: bool, reset_base: str, undo_base: str = "", now=None) -> str:
    """One learner's row of the live board. A tag, not template markup: the board renders 300
    rows every few seconds, and Django's per-node cost dominates at that size (bench/board.py).
    Reset is a link to a confirm page naming the learner; for a minute after, Undo."""
    name = row.membership.label
    member = row.membership
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
            '<a href="{}{}/reset" class="button button-small button-danger" id="reset-{}">'
            'Reset<span class="visually-hidden"> {}&#x27;s sandbox</span></a>',
            reset_base,
            member.pk,
            member.pk,
            name,
        )
        last = row.last_reset
        now = now or timezone.now()
        fresh = last is not None and (now - last["at"]).total_seconds() <= UNDO_SECONDS
        if fresh and last["undone_at"] is None:
            reset += format_html(
                ' <button type="submit" form="reset-form" formaction="{}{}/undo" id="undo-{}" '
                'class="button button-small">Undo reset<span class="visually-hidden"> of {}'
                "</span></button>",
                undo_base,
                last["pk"],
                member.pk,
                name,
            )
    asking = ""
    if member.stuck_at is not None:
        asking = format_html(
            ' <span class="badge badge-ask" data-testid="asking-{}">asked for help on step {}'
            "</span>",
            member.pk,
            member.stuck_step or "?",
        )
    return format_html(
        '<tr id="member-{}" data-testid="row-{}"{}><th scope="row"><a href="{}{}/">{}</a>{}</th>'
        "{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        member.pk,
        name,
        mark_safe(' class="is-stuck"') if row.stuck else "",
        reset_base,
        member.pk,
        name,
        asking,
        mark_safe(cells),  # noqa: S308 - built by format_html
        row.quiz_score,
        duration_short(row.on_step_for),
        duration_short(row.idle_for),
        reset,
    )


@functools.cache
def _lab_step(lab_slug: str, step_slug: str):
    lab = lab_get(lab_slug)
    return lab.step(step_slug) if lab is not None else None


def _clock_values(speed: int) -> dict:
    return {
        "clock_speed": speed,
        "lab_hour": duration_said(clock.real(clock.RENEW_EVERY, at_speed=speed)),
    }

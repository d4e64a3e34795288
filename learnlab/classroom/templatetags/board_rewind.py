"""The board's Rewind button per learner row, and the learner's notice of a rewind."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from learnlab.classroom.board_rewind import rewind_notice
from learnlab.classroom.templatetags.classroom import board_row

register = template.Library()
ROW_END = "</td></tr>"


@register.simple_tag
def board_row_rewind(row, *, open_class: bool, reset_base: str, undo_base: str = "") -> str:
    """``board_row`` with a Rewind link (to a confirm page naming the learner and the step)
    after the row's Reset and Undo, in an open class: a link, so keyboard reachable and working
    without JavaScript."""
    html = board_row(row, open_class=open_class, reset_base=reset_base, undo_base=undo_base)
    if not open_class or not html.endswith(ROW_END):
        return html
    member = row.membership
    link = format_html(
        ' <a href="{}{}/rewind" class="button button-small" id="rewind-{}">'
        'Rewind<span class="visually-hidden"> {}&#x27;s sandbox</span></a>',
        reset_base,
        member.pk,
        member.pk,
        member.label,
    )
    return mark_safe(html[: -len(ROW_END)] + link + ROW_END)  # noqa: S308 - both escaped


@register.simple_tag
def class_rewind_notice(live):
    """The instructor's rewind of this learner, when it is newer than their last reset."""
    if live is None:
        return None
    notice = rewind_notice(membership=live.membership)
    if notice is None:
        return None
    reset = live.last_reset
    if reset is not None and max(reset.at, reset.undone_at or reset.at) > notice.at:
        return None
    return notice

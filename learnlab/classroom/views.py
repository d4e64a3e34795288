import csv
import functools

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from learnlab.classroom.board_rewind import (
    NothingToRewind,
    membership_rewind,
    membership_rewind_points,
)
from learnlab.classroom.models import (
    ANNOUNCEMENT_MAX,
    CODE_ALPHABET,
    CODE_LENGTH,
    Classroom,
    LearnerReset,
    Membership,
)
from learnlab.classroom.selectors import (
    FILTERS,
    SORTS,
    classroom_board,
    classroom_export_rows,
    classroom_lab,
    classroom_labs,
    learner_detail,
    learner_live,
    membership_for_learner,
)
from learnlab.classroom.selectors import is_instructor as user_is_instructor
from learnlab.classroom.services import (
    UNDO_SECONDS,
    ClassroomError,
    classroom_announce,
    classroom_close,
    classroom_create,
    classroom_join,
    classroom_reveal_hint,
    classroom_set_clock,
    classroom_set_labs,
    membership_reset,
    membership_stuck,
    reset_undo,
    resets_expire,
)
from learnlab.labs.catalog import lab_get, labs_all
from learnlab.labs.rewind import RewindRefused
from learnlab.labs.selectors import lab_progress
from learnlab.learners.selectors import NEW_LEARNERS_WINDOW, learner_from_request
from learnlab.lib.clock import SPEED_CHOICES
from learnlab.lib.throttle import (
    Throttled,
    client_address,
    minutes,
    refuse_if_window_full,
    throttle_count,
    throttle_wait,
)
from learnlab.lib.urls import safe_next
from learnlab.sandbox import connection

BOARD_POLL_SECONDS = 3
JOIN_CLIENT = "join-client"


class JoinForm(forms.Form):
    code = forms.CharField(
        label="Class code",
        max_length=12,
        help_text=f"{CODE_LENGTH} letters and digits, from your instructor's screen.",
    )
    display_name = forms.CharField(
        label="Your name", max_length=60, help_text="As your instructor will see it."
    )

    def clean_code(self):
        code = "".join(self.cleaned_data["code"].split()).upper()
        if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
            raise forms.ValidationError(
                f"A class code is {CODE_LENGTH} letters and digits, like K7PX3M."
            )
        return code

    def clean_display_name(self):
        name = " ".join(self.cleaned_data["display_name"].split())
        if not name:
            raise forms.ValidationError("Enter the name your instructor will know you by.")
        return name


class ClassroomForm(forms.Form):
    name = forms.CharField(label="Class name", max_length=80, initial="IAM roles workshop")
    clock_speed = forms.TypedChoiceField(
        label="Lab clock",
        coerce=int,
        initial=60,
        choices=[(s, f"{s}x ({3600 // s} s per lab-hour)") for s in SPEED_CHOICES],
    )


def _lab_choices():
    return [(lab.slug, lab.title) for lab in labs_all().values()]


class LabsForm(forms.Form):
    """The labs a class runs: a checkbox per lab in the catalog, at least one."""

    labs = forms.MultipleChoiceField(
        label="Labs the class runs",
        widget=forms.CheckboxSelectMultiple,
        help_text="Learners see each one listed in their class area; the first ticked is where "
        "they land when they join.",
        error_messages={
            "required": "Tick at least one lab for the class to run.",
            "invalid_choice": "No lab is called %(value)s: tick the labs listed.",
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["labs"].choices = _lab_choices()


class ClassroomLabsForm(ClassroomForm, LabsForm):
    """Starting a class: its name, clock and labs."""

    field_order = ["name", "clock_speed", "labs"]
    SHOWN = "labs_shown"  # the page's form says it offered the checkboxes

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["labs"].required = False

    def clean_labs(self):
        """None ticked on the page is refused; a post without the list at all (a client from
        before classes chose labs) runs the default lab."""
        labs = self.cleaned_data["labs"]
        if labs:
            return labs
        if self.data.get(self.SHOWN):
            raise forms.ValidationError(self.fields["labs"].error_messages["required"])
        return [Classroom().lab]


def instructor_required(view):
    """Signed in as an instructor, else to the login page (or a plain refusal)."""

    @functools.wraps(view)
    @login_required(login_url="login")
    def wrapper(request, *args, **kwargs):
        if not user_is_instructor(request.user):
            return render(request, "classroom/not_instructor.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _own_classroom(request, code: str) -> Classroom:
    """This instructor's class; any other code is a 404, so codes cannot be probed."""
    classroom = Classroom.objects.filter(code=code.upper(), instructor=request.user).first()
    if classroom is None:
        raise Http404("No such class")
    return classroom


def _join_wait(request) -> int:
    """Seconds before this client may try a class code again, after too many wrong ones."""
    limit = settings.LEARNLAB_JOIN_FAILURES_PER_CLIENT
    return throttle_wait(JOIN_CLIENT, client_address(request), limit=limit)


def _joining_learner(request, classroom: Classroom):
    """This browser's learner, or a new one. A class may share one address, so a new learner
    joining with a code has the class's limits instead of the address's own: per class and
    address (LEARNLAB_NEW_LEARNERS_PER_CLASS_CLIENT, a school behind one address), and per class
    (LEARNLAB_NEW_LEARNERS_PER_CLASS, a higher safety net), in 10 minutes. One address that knows
    the code can use up its own share, never the whole class's."""
    learner = learner_from_request(request, create=False)
    if learner is not None:
        return learner
    since = timezone.now() - NEW_LEARNERS_WINDOW
    joined = Membership.objects.filter(classroom=classroom, joined_at__gte=since)
    address = client_address(request) or None
    from_address = joined.filter(learner__created_from=address) if address else joined.none()
    refuse_if_window_full(
        from_address,
        field="joined_at",
        limit=settings.LEARNLAB_NEW_LEARNERS_PER_CLASS_CLIENT,
        window=NEW_LEARNERS_WINDOW,
        message="Many people from your address have just joined this class. Try again in "
        "{wait}; if your whole class shares one address, tell your instructor.",
    )
    refuse_if_window_full(
        joined,
        field="joined_at",
        limit=settings.LEARNLAB_NEW_LEARNERS_PER_CLASS,
        window=NEW_LEARNERS_WINDOW,
        message="Many people have just joined this class. Try again in {wait}.",
    )
    return learner_from_request(request, create=True, per_client_limit=False)


@require_http_methods(["GET", "POST"])
def join(request, code=""):
    form = JoinForm(request.POST or None, initial={"code": code})
    context, status = {"section": "classroom"}, 200
    if request.method == "POST" and (wait := _join_wait(request)):  # checked before the code
        form = JoinForm(initial=request.POST.dict())
        context["refused"] = (
            "Too many wrong class codes from this address. "
            f"Try again in {minutes(wait)}, or ask your instructor for the code."
        )
        status = 429
    elif request.method == "POST" and form.is_valid():
        classroom = Classroom.objects.filter(code=form.cleaned_data["code"]).first()
        if classroom is None:
            throttle_count(JOIN_CLIENT, client_address(request))
            form.add_error("code", "No class has this code. Check it with your instructor.")
        else:
            try:
                classroom_join(
                    classroom=classroom,
                    learner=_joining_learner(request, classroom),
                    display_name=form.cleaned_data["display_name"],
                )
            except Throttled as error:
                context["refused"], status = error.message, 429
            except ClassroomError as error:
                form.add_error("code", str(error))
            except connection.SANDBOX_ERRORS:
                form.add_error(None, connection.RECONNECTING)
            else:
                messages.success(request, f"Welcome to {classroom.name}. Your lab is ready.")
                return redirect("labs:detail", slug=classroom.lab)
    return render(request, "classroom/join.html", {**context, "form": form}, status=status)


@require_http_methods(["GET", "POST"])
@instructor_required
def teach(request):
    form = ClassroomLabsForm(request.POST or None, initial={"labs": [Classroom().lab]})
    if request.method == "POST" and form.is_valid():
        try:
            classroom = classroom_create(
                instructor=request.user,
                name=form.cleaned_data["name"],
                clock_speed=form.cleaned_data["clock_speed"],
                labs=form.cleaned_data["labs"],
            )
        except ClassroomError as error:
            form.add_error(None, str(error))
        else:
            return redirect("classroom:board", code=classroom.code)
    return _teach_page(request, form, status=400 if form.errors else 200)


def _teach_page(request, form, *, labs_form=None, labs_code="", status=200):
    classrooms = list(Classroom.objects.filter(instructor=request.user).order_by("-created_at"))
    for classroom in classrooms:
        if labs_form is not None and classroom.code == labs_code:
            classroom.labs_form = labs_form
        else:
            classroom.labs_form = LabsForm(
                initial={"labs": classroom.lab_slugs}, prefix=classroom.code
            )
    return render(
        request,
        "classroom/teach.html",
        {"section": "classroom", "form": form, "classrooms": classrooms},
        status=status,
    )


@require_POST
@instructor_required
def labs(request, code):
    """Change the labs a class runs (the teach page's checkbox list)."""
    classroom = _own_classroom(request, code)
    form = LabsForm(request.POST, prefix=classroom.code)
    if form.is_valid():
        try:
            classroom_set_labs(classroom=classroom, labs=form.cleaned_data["labs"])
        except ClassroomError as error:
            form.add_error("labs", str(error))
        else:
            titles = [lab.title for lab in classroom_labs(classroom=classroom)]
            messages.success(request, f"{classroom.name} runs {', '.join(titles)}.")
            return redirect("classroom:teach")
    return _teach_page(
        request, ClassroomLabsForm(), labs_form=form, labs_code=classroom.code, status=400
    )


def _board_context(request, classroom: Classroom) -> dict:
    resets_expire()
    sort = request.GET.get("sort") if request.GET.get("sort") in SORTS else "name"
    show = request.GET.get("show") if request.GET.get("show") in FILTERS else "all"
    board = classroom_board(
        classroom=classroom,
        now=timezone.now(),
        sort=sort,
        show=show,
        lab_slug=request.GET.get("lab"),
    )
    return {
        "section": "classroom",
        "classroom": classroom,
        "board": board,
        "sort": sort,
        "show": show,
        "sorts": SORTS,
        "filters": FILTERS,
        "speeds": SPEED_CHOICES,
        "poll_seconds": BOARD_POLL_SECONDS,
        "undo_seconds": UNDO_SECONDS,
        "announcement_max": ANNOUNCEMENT_MAX,
        # Built once, not per row: reverse() for 300 rows is measurable on the hot board.
        "reset_base": reverse("classroom:reset", args=[classroom.code, 0]).removesuffix("0/reset"),
        "undo_base": reverse("classroom:undo", args=[classroom.code, 0]).removesuffix("0/undo"),
        "join_url": request.build_absolute_uri(
            reverse("classroom:join_code", args=[classroom.code])
        ),
    }


@require_GET
@instructor_required
def board(request, code):
    classroom = _own_classroom(request, code)
    return render(request, "classroom/board.html", _board_context(request, classroom))


@require_GET
@instructor_required
def board_rows(request, code):
    classroom = _own_classroom(request, code)
    return render(request, "classroom/board.html#grid", _board_context(request, classroom))


@require_GET
@instructor_required
def qr(request, code):
    classroom = _own_classroom(request, code)
    url = request.build_absolute_uri(reverse("classroom:join_code", args=[classroom.code]))
    response = HttpResponse(content_type="image/svg+xml")
    # A standalone SVG document (with its namespace), so browsers show it as an <img>.
    segno.make(url, error="m").save(
        response, kind="svg", scale=8, border=2, title=f"Join {classroom.code}"
    )
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _member(classroom: Classroom, membership_id: int) -> Membership:
    membership = (
        Membership.objects.select_related("learner")
        .filter(pk=membership_id, classroom=classroom, left_at=None)
        .first()
    )
    if membership is None:
        raise Http404("No such learner in this class")
    return membership


def _member_label(classroom: Classroom, membership: Membership) -> str:
    """The learner's name, with #id when another learner in the class has the same one."""
    same = (
        Membership.objects.filter(
            classroom=classroom, left_at=None, display_name__iexact=membership.display_name
        ).count()
        > 1
    )
    return f"{membership.display_name} #{membership.pk}" if same else membership.display_name


@require_http_methods(["GET", "POST"])
@instructor_required
def learner_reset(request, code, membership_id):
    """A confirm page naming the learner (GET), then the reset (POST with ``confirm``): works
    without JavaScript, and a click on a moving board cannot reset the wrong learner."""
    classroom = _own_classroom(request, code)
    membership = _member(classroom, membership_id)
    label = _member_label(classroom, membership)
    if not classroom.is_open:
        messages.error(request, "This class has ended: its sandboxes are already gone.")
        return redirect("classroom:board", code=classroom.code)
    if request.method == "GET" or request.POST.get("confirm") != "yes":
        return render(
            request,
            "classroom/reset_confirm.html",
            {
                "section": "classroom",
                "classroom": classroom,
                "membership": membership,
                "label": label,
                "undo_seconds": UNDO_SECONDS,
            },
        )
    try:
        membership_reset(membership=membership, by=request.user)
    except connection.SANDBOX_ERRORS:
        messages.error(request, connection.RECONNECTING)
    else:
        messages.success(
            request,
            f"{label} has an empty sandbox and starts at step 1. You can undo this for "
            f"{UNDO_SECONDS} seconds from the board.",
        )
    return redirect("classroom:board", code=classroom.code)


@require_http_methods(["GET", "POST"])
@instructor_required
def learner_rewind(request, code, membership_id):
    """Rewind one learner's sandbox to just before a step they reached: a page naming the
    learner that lists those steps (GET), a confirm page naming the learner and the chosen
    step (GET with ``before``, a step's slug, or POST without ``confirm``), then the rewind
    (POST with ``before`` and ``confirm``). Works without JavaScript."""
    classroom = _own_classroom(request, code)
    membership = _member(classroom, membership_id)
    label = _member_label(classroom, membership)
    board_url = reverse("classroom:board", args=[classroom.code])
    if not classroom.is_open:
        messages.error(request, "This class has ended: its sandboxes are already gone.")
        return redirect(board_url)
    lab = lab_get(classroom.lab)
    points = membership_rewind_points(membership=membership, lab=lab)
    data = request.POST if request.method == "POST" else request.GET
    before = data.get("before", "")
    step = lab.step(before) if before else None
    context = {
        "section": "classroom",
        "classroom": classroom,
        "membership": membership,
        "label": label,
        "points": points,
        "chosen": None,
    }
    if before and (step is None or step not in [point.step for point in points]):
        context["refused"] = (
            f"{label} cannot be rewound to that step: they have not reached it, or it is not in "
            f"this class's lab."
        )
        return render(request, "classroom/rewind_confirm.html", context, status=400)
    if step is None or request.method == "GET" or request.POST.get("confirm") != "yes":
        context["chosen"] = step
        return render(request, "classroom/rewind_confirm.html", context)
    try:
        membership_rewind(membership=membership, lab=lab, step=step, by=request.user)
    except NothingToRewind:
        messages.error(request, f"{label} has no sandbox yet: there is nothing to rewind.")
    except RewindRefused:
        messages.error(
            request,
            f"{label} has not reached step {step.number} ({step.title}) any more (their "
            f"progress changed meanwhile): choose one of the steps listed.",
        )
        return redirect(reverse("classroom:rewind", args=[classroom.code, membership.pk]))
    except connection.SANDBOX_ERRORS:
        messages.error(
            request,
            f"The sandbox server is not answering. {label}'s rewind to just before step "
            f"{step.number} is recorded (their steps from it on are cleared and their page "
            f"says so): their sandbox is rebuilt that way once the sandbox server is back.",
        )
    else:
        messages.success(
            request,
            f"{label}'s sandbox is as it was just before step {step.number} ({step.title}), "
            f"with the same ids; they check step {step.number} again. Their page tells them "
            f"you rewound it.",
        )
    return redirect(board_url)


@require_POST
@instructor_required
def learner_reset_undo(request, code, reset_id):
    classroom = _own_classroom(request, code)
    reset = (
        LearnerReset.objects.select_related("membership__learner", "membership__classroom")
        .filter(pk=reset_id, membership__classroom=classroom)
        .first()
    )
    if reset is None:
        raise Http404("No such reset in this class")
    label = _member_label(classroom, reset.membership)
    try:
        reset_undo(reset=reset)
    except ClassroomError as error:
        messages.error(request, str(error))
    except connection.SANDBOX_ERRORS:
        messages.error(request, connection.RECONNECTING)
    else:
        messages.success(request, f"Undone: {label} has their sandbox and progress back.")
    return redirect("classroom:board", code=classroom.code)


@require_GET
@instructor_required
def learner_view(request, code, membership_id):
    """One learner, read-only: last terminal lines, last failed check, AWS errors, resets."""
    classroom = _own_classroom(request, code)
    membership = _member(classroom, membership_id)
    return render(
        request,
        "classroom/learner.html",
        {
            "section": "classroom",
            "classroom": classroom,
            "label": _member_label(classroom, membership),
            "detail": learner_detail(membership=membership),
            "lab": lab_get(classroom.lab),
        },
    )


@require_POST
@instructor_required
def reveal_hint(request, code):
    classroom = _own_classroom(request, code)
    if not classroom.is_open:
        messages.error(request, "This class has ended.")
        return redirect("classroom:board", code=classroom.code)
    try:
        step = request.POST.get("step", "")
        classroom_reveal_hint(classroom=classroom, step=step, by=request.user)
    except ClassroomError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "The hint is now open for everyone in the class.")
    return redirect("classroom:board", code=classroom.code)


@require_POST
@instructor_required
def announce(request, code):
    classroom = _own_classroom(request, code)
    if not classroom.is_open:
        messages.error(request, "This class has ended.")
        return redirect("classroom:board", code=classroom.code)
    try:
        classroom_announce(classroom=classroom, text=request.POST.get("text", ""))
    except ClassroomError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            "Announced to the class." if classroom.announcement else "Announcement taken down.",
        )
    return redirect("classroom:board", code=classroom.code)


@require_POST
@instructor_required
def clock(request, code):
    classroom = _own_classroom(request, code)
    try:
        speed = int(request.POST.get("speed", classroom.clock_speed))
        classroom_set_clock(
            classroom=classroom,
            speed=speed,
            paused=request.POST.get("rotation") == "paused",
            by=request.user,
        )
    except ValueError as error:
        messages.error(
            request, str(error) if isinstance(error, ClassroomError) else "Choose a speed."
        )
    else:
        state = "paused" if classroom.rotation_paused else "running"
        messages.success(request, f"Class clock: {classroom.clock_speed}x, rotation {state}.")
    return redirect("classroom:board", code=classroom.code)


@require_POST
@instructor_required
def close(request, code):
    classroom = _own_classroom(request, code)
    if classroom.is_open:
        dropped = classroom_close(classroom=classroom)
        messages.success(
            request, f"Class closed. Results are kept; {dropped} sandboxes were released."
        )
    return redirect("classroom:board", code=classroom.code)


def _csv_safe(value: str) -> str:
    """Spreadsheets run cells that start with these as formulas."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@require_GET
@instructor_required
def export(request, code):
    classroom = _own_classroom(request, code)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    lab = classroom_lab(classroom=classroom, slug=request.GET.get("lab"))
    if lab is None:  # every lab the class ran has left the catalog
        raise Http404("None of this class's labs exists any more: choose its labs again.")
    rows = classroom_export_rows(classroom=classroom, lab_slug=lab.slug)
    # The main lab's export keeps its name; another lab's names its lab.
    suffix = "" if lab.slug == classroom.lab else f"-{lab.slug}"
    name = f"learnlab-{classroom.code}{suffix}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    for line in rows:
        writer.writerow([_csv_safe(cell) for cell in line])
    return response


DISMISSED = "classroom_dismissed"  # session key: the announcement time the learner dismissed


def _live_context(request) -> dict:
    learner = learner_from_request(request, create=False)
    live = learner_live(learner=learner, now=timezone.now())
    # Polled, this partial's own address is /class/live: its forms go back to the page that
    # polls it (htmx names it), else the labs index, never to the bare partial.
    back = request.headers.get("HX-Current-URL") or reverse("labs:index")
    return {"live": live, "dismissed": request.session.get(DISMISSED, ""), "back": back}


@require_GET
def live(request):
    """The learner's class area on their lab page, polled: banner, clock, announcement, reset
    notice, opened hints, the "I'm stuck" button."""
    response = render(request, "classroom/_class_live.html", _live_context(request))
    response["Cache-Control"] = "no-store"
    return response


def _back(request):
    return redirect(safe_next(request, reverse("labs:index")))


@require_POST
def stuck(request):
    """The learner asks for help on the step they are on (``action=done``: no longer)."""
    learner = learner_from_request(request, create=False)
    membership = membership_for_learner(learner=learner)
    if membership is None or not membership.classroom.is_open:
        messages.error(request, "You are not in an open class, so there is no one to ask.")
        return _back(request)
    if request.POST.get("action") == "done":
        membership_stuck(membership=membership, step=None)
        messages.success(request, "Glad it worked out: your instructor no longer sees a request.")
    else:
        lab = lab_get(membership.classroom.lab)
        _progress, current = lab_progress(learner=learner, lab=lab)
        membership_stuck(membership=membership, step=current.number)
        messages.success(
            request, f"Your instructor sees that you are stuck on step {current.number}."
        )
    return _back(request)


@require_POST
def dismiss(request):
    """Hide the class announcement in this browser (a new one shows again)."""
    request.session[DISMISSED] = request.POST.get("at", "")[:40]
    return _back(request)

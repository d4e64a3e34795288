from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from learnlab.learners.selectors import learner_from_request
from learnlab.lib.urls import safe_next
from learnlab.quiz.bank import EXAM_POINTS, EXAMS, LAB_STEP, POINT_TITLES, items_for, load_bank
from learnlab.quiz.models import Answer, Exam
from learnlab.quiz.selectors import due_item_ids, mastery, next_practice_item
from learnlab.quiz.services import (
    MINUTES_PER_ITEM,
    PASS_MARK,
    QuizInputError,
    answer_record,
    chosen_indexes,
    exam_breakdown,
    exam_extend,
    exam_missed,
    exam_retake,
    exam_save_answer,
    exam_start,
    exam_submit,
    exam_timer_off,
)

EXAM_SIZES = (10, 20, 30)
CHART_ROW = 26  # px per exam point in the mastery chart


def _points(request) -> list[str]:
    return [p for p in request.GET.getlist("points") if p in EXAM_POINTS]


def _item_or_404(item_id: str):
    item = load_bank().get(item_id)
    if item is None:
        raise Http404("No such question")
    return item


@require_GET
def hub(request):
    learner = learner_from_request(request, create=False)
    context = {
        "section": "quiz",
        "points": [(p, POINT_TITLES[p]) for p in EXAM_POINTS],
        "due_count": len(due_item_ids(learner=learner)) if learner else 0,
        "exams": EXAMS,
        "sizes": EXAM_SIZES,
        "exam_sizes": [(code, len(items_for(exam=code))) for code in EXAMS],
        "bank_size": len(load_bank()),
    }
    return render(request, "quiz/hub.html", context)


@require_http_methods(["GET", "POST"])
def practice(request):
    """One question at a time; the answer comes back with every option's explanation."""
    learner = learner_from_request(request, create=True)
    points, due_only = _points(request), request.GET.get("due") == "1"
    query = request.GET.urlencode()
    context = {
        "section": "quiz",
        "points": points,
        "due_only": due_only,
        "query": query,
        "chosen": [],
        "learner_id": learner.pk,
    }
    if request.method == "POST":
        item = _item_or_404(request.POST.get("item", ""))
        try:
            chosen = chosen_indexes(item, request.POST.getlist("choice"))
        except QuizInputError as error:
            context.update(item=item, error=str(error))
            return render(request, "quiz/practice.html", context, status=400)
        answer = answer_record(learner=learner, item=item, chosen=chosen, mode=Answer.Mode.PRACTICE)
        context.update(
            item=item,
            answer=answer,
            chosen=chosen,
            lab_slug=LAB_STEP[item.points[0]][0],
            lab_step=LAB_STEP[item.points[0]][1],
        )
        return render(request, "quiz/practice.html", context)
    context["item"] = next_practice_item(learner=learner, points=points, due_only=due_only)
    return render(request, "quiz/practice.html", context)


@require_POST
def exam_new(request):
    learner = learner_from_request(request, create=True)
    exam_code = request.POST.get("exam")
    try:
        count = int(request.POST.get("count", "10"))
    except ValueError:
        count = 10
    if exam_code not in EXAMS or count not in EXAM_SIZES:
        messages.error(request, "Choose an exam and a number of questions from the lists.")
        return redirect("quiz:hub")
    timed = request.POST.get("timed") == "on"
    available = len(items_for(exam=exam_code))
    if 0 < available < count and request.POST.get("fewer") != "1":
        # Said before the exam starts, with what is possible offered instead.
        context = {
            "section": "quiz",
            "exam_code": exam_code,
            "count": count,
            "available": available,
            "timed": timed,
            "minutes": available * MINUTES_PER_ITEM,
        }
        return render(request, "quiz/exam_short.html", context)
    try:
        exam = exam_start(learner=learner, exam=exam_code, count=count, timed=timed)
    except QuizInputError as error:
        messages.error(request, str(error))
        return redirect("quiz:hub")
    return redirect("quiz:exam_question", exam_id=exam.pk, number=1)


def _exam_for(request, exam_id) -> Exam:
    learner = learner_from_request(request, create=False)
    return get_object_or_404(Exam, pk=exam_id, learner=learner)


def _deadline_ms(exam: Exam) -> int | None:
    if exam.time_limit_seconds is None:
        return None
    return int((exam.started_at.timestamp() + exam.time_limit_seconds) * 1000)


@require_http_methods(["GET", "POST"])
def exam_question(request, exam_id, number):
    exam = _exam_for(request, exam_id)
    if exam.submitted_at:
        return redirect("quiz:exam_review", exam_id=exam.pk)
    if not 1 <= number <= len(exam.item_ids):
        raise Http404("No such question in this exam")
    item = load_bank()[exam.item_ids[number - 1]]
    error = None
    if request.method == "POST":
        ticked = request.POST.getlist("choice")
        try:
            chosen = chosen_indexes(item, ticked) if ticked else []
            exam_save_answer(
                exam=exam, item=item, chosen=chosen, flagged=request.POST.get("flag") == "on"
            )
        except QuizInputError as exc:
            error = str(exc)
        else:
            go = request.POST.get("go", "next")
            if go == "overview":
                return redirect("quiz:exam_overview", exam_id=exam.pk)
            target = number - 1 if go == "previous" else number + 1
            if 1 <= target <= len(exam.item_ids):
                return redirect("quiz:exam_question", exam_id=exam.pk, number=target)
            return redirect("quiz:exam_overview", exam_id=exam.pk)
    context = {
        "section": "quiz",
        "exam": exam,
        "item": item,
        "number": number,
        "total": len(exam.item_ids),
        "chosen": exam.answers.get(item.id, []),
        "learner_id": exam.learner_id,
        "flagged": item.id in exam.flags,
        "deadline_ms": _deadline_ms(exam),
        "error": error,
    }
    return render(request, "quiz/exam_question.html", context, status=400 if error else 200)


@require_GET
def exam_overview(request, exam_id):
    exam = _exam_for(request, exam_id)
    if exam.submitted_at:
        return redirect("quiz:exam_review", exam_id=exam.pk)
    rows = [
        {"number": n, "answered": item_id in exam.answers, "flagged": item_id in exam.flags}
        for n, item_id in enumerate(exam.item_ids, start=1)
    ]
    context = {
        "section": "quiz",
        "exam": exam,
        "rows": rows,
        "unanswered": sum(not row["answered"] for row in rows),
        "deadline_ms": _deadline_ms(exam),
    }
    return render(request, "quiz/exam_overview.html", context)


@require_POST
def exam_timer(request, exam_id):
    exam = _exam_for(request, exam_id)
    if request.POST.get("action") == "off":
        exam_timer_off(exam=exam)
        messages.info(request, "The timer is off. Take the time you need.")
    else:
        exam_extend(exam=exam)
        messages.info(request, "Ten more minutes added.")
    return redirect(safe_next(request, reverse("quiz:exam_overview", args=[exam.pk])))


@require_POST
def exam_finish(request, exam_id):
    exam = exam_submit(exam=_exam_for(request, exam_id))
    return redirect("quiz:exam_review", exam_id=exam.pk)


@require_GET
def exam_review(request, exam_id):
    """The score, each exam point's share by its title, and every answer (or, with
    ``?missed=1``, only the ones missed), with a retake of exactly what was missed."""
    exam = _exam_for(request, exam_id)
    if not exam.submitted_at:
        return redirect("quiz:exam_overview", exam_id=exam.pk)
    bank = load_bank()
    pass_mark = PASS_MARK[exam.exam]
    only_missed = request.GET.get("missed") == "1"
    missed = exam_missed(exam=exam)
    reviewed = [
        {"number": n, "item": bank[item_id], "chosen": exam.answers.get(item_id, []),
         "right": item_id not in missed}
        for n, item_id in enumerate(exam.item_ids, start=1)
        if item_id in bank and (not only_missed or item_id in missed)
    ]  # fmt: skip
    breakdown = [
        {"result": row, "title": POINT_TITLES[row.point]} for row in exam_breakdown(exam=exam)
    ]
    context = {
        "section": "quiz",
        "exam": exam,
        "percent": round(exam.score * 100),
        "pass_percent": round(pass_mark * 100),
        "passed": exam.score >= pass_mark,
        "breakdown": breakdown,
        "reviewed": reviewed,
        "total": len(exam.item_ids),
        "missed_count": len(missed),
        "only_missed": only_missed,
        "learner_id": exam.learner_id,
        "minutes": round((exam.submitted_at - exam.started_at).total_seconds() / 60),
    }
    return render(request, "quiz/exam_review.html", context)


@require_POST
def exam_retake_missed(request, exam_id):
    exam = _exam_for(request, exam_id)
    try:
        retake = exam_retake(exam=exam)
    except QuizInputError as error:
        messages.error(request, str(error))
        return redirect("quiz:exam_review", exam_id=exam.pk)
    return redirect("quiz:exam_question", exam_id=retake.pk, number=1)


@require_GET
def mastery_view(request):
    learner = learner_from_request(request, create=False)
    rows = mastery(learner=learner) if learner else []
    chart = [
        {
            "row": row,
            "y": n * CHART_ROW,
            "width": round(row.score * 480),
            "percent": round(row.score * 100),
        }
        for n, row in enumerate(rows)
    ]
    context = {"section": "quiz", "chart": chart, "chart_height": len(rows) * CHART_ROW}
    return render(request, "quiz/mastery.html", context)

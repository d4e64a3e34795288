"""A class runs the labs its instructor chooses; the board, the CSV and learners show each."""

import csv
import io

from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from learnlab.classroom.models import Classroom, Membership
from learnlab.labs.catalog import lab_get
from learnlab.labs.models import StepResult
from learnlab.learners.models import Learner

MAIN, OTHER = "instance-role", "imdsv2-ssrf"


def _create(instructor, labs, name="Two labs") -> tuple:
    response = instructor.post(
        "/class/teach/", {"name": name, "clock_speed": "60", "labs": labs, "labs_shown": "1"}
    )
    return response, Classroom.objects.filter(instructor=instructor.user, name=name).first()


def _columns(html: str, slug: str) -> list[str]:
    return [step.title for step in lab_get(slug).steps if f'title="{escape(step.title)}"' in html]


def test_a_class_created_with_two_labs_shows_each_labs_steps_on_its_board(instructor, db):
    response, classroom = _create(instructor, [MAIN, OTHER])
    assert response.status_code == 302 and classroom is not None
    assert (classroom.lab, classroom.lab_slugs) == (MAIN, [MAIN, OTHER])
    learner = Learner.objects.create()
    Membership.objects.create(classroom=classroom, learner=learner, display_name="Grace")
    now = timezone.now()
    first = lab_get(OTHER).steps[0]
    StepResult.objects.create(
        learner=learner, lab=OTHER, step=first.slug, passed=True, message="ok",
        attempts=1, checked_at=now, passed_at=now,
    )  # fmt: skip

    main = instructor.get(f"/class/teach/{classroom.code}/").content.decode()
    other = instructor.get(f"/class/teach/{classroom.code}/?lab={OTHER}").content.decode()
    assert 'data-testid="lab-switcher"' in main and f'href="?lab={OTHER}"' in main
    main_titles = [s.title for s in lab_get(MAIN).steps]
    other_titles = [s.title for s in lab_get(OTHER).steps]
    assert _columns(main, MAIN) == main_titles and not _columns(main, OTHER)
    assert _columns(other, OTHER) == other_titles and not _columns(other, MAIN)
    # Grace's pass in the second lab counts on that lab's board only.
    assert 'data-testid="passed-1">1<' in other and 'data-testid="passed-1">0<' in main
    # The polled grid keeps the lab it shows.
    assert f"&amp;lab={OTHER}" in other
    grid = instructor.get(f"/class/teach/{classroom.code}/grid?lab={OTHER}").content.decode()
    assert _columns(grid, OTHER) == other_titles
    # A lab the class does not run shows the main lab, not an error.
    stray = instructor.get(f"/class/teach/{classroom.code}/?lab=least-privilege")
    assert stray.status_code == 200 and _columns(stray.content.decode(), MAIN) == main_titles


def test_an_unknown_lab_or_none_is_refused_with_a_message(instructor, db):
    response, classroom = _create(instructor, [MAIN, "no-such-lab"])
    assert response.status_code == 400 and classroom is None
    assert "No lab is called no-such-lab" in response.content.decode()
    response, classroom = _create(instructor, [])
    assert response.status_code == 400 and classroom is None
    assert "Tick at least one lab" in response.content.decode()
    # A post without the list at all (a client from before) runs the default lab.
    response = instructor.post("/class/teach/", {"name": "Old", "clock_speed": "60"})
    assert response.status_code == 302
    assert Classroom.objects.get(name="Old").lab_slugs == [MAIN]


def test_the_instructor_changes_a_class_labs_on_the_teach_page(instructor, classroom):
    assert classroom.lab_slugs == [MAIN]  # a class from before: its one lab
    page = instructor.get("/class/teach/").content.decode()
    assert f'action="/class/teach/{classroom.code}/labs"' in page
    assert f'name="{classroom.code}-labs" value="{OTHER}"' in page
    field = f"{classroom.code}-labs"
    response = instructor.post(f"/class/teach/{classroom.code}/labs", {field: [MAIN, OTHER]})
    assert response.status_code == 302
    classroom.refresh_from_db()
    assert classroom.lab_slugs == [MAIN, OTHER]
    # Unknown or none: refused, nothing changed, the message beside the form.
    for bad in ({field: ["nope"]}, {}):
        response = instructor.post(f"/class/teach/{classroom.code}/labs", bad)
        assert response.status_code == 400
        assert 'data-testid="labs-error"' in response.content.decode()
    classroom.refresh_from_db()
    assert classroom.lab_slugs == [MAIN, OTHER]
    # Dropping the main lab makes the first one left the main lab.
    instructor.post(f"/class/teach/{classroom.code}/labs", {field: [OTHER]})
    classroom.refresh_from_db()
    assert (classroom.lab, classroom.lab_slugs) == (OTHER, [OTHER])


def test_another_instructor_cannot_change_the_labs(make_instructor, classroom):
    other = make_instructor("bob")
    response = other.post(
        f"/class/teach/{classroom.code}/labs", {f"{classroom.code}-labs": [OTHER]}
    )
    assert response.status_code == 404
    classroom.refresh_from_db()
    assert classroom.lab_slugs == [MAIN]


def test_the_csv_takes_the_lab(instructor, db):
    _response, classroom = _create(instructor, [MAIN, OTHER])
    Membership.objects.create(
        classroom=classroom, learner=Learner.objects.create(), display_name="Ann"
    )

    def header(query: str) -> tuple:
        response = instructor.get(f"/class/teach/{classroom.code}/export.csv{query}")
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        steps = [c for c in rows[0] if c.endswith("_result")]
        return response["Content-Disposition"], len(steps), len(rows)

    assert header("") == (f'attachment; filename="learnlab-{classroom.code}.csv"', 6, 2)
    assert header(f"?lab={OTHER}") == (
        f'attachment; filename="learnlab-{classroom.code}-{OTHER}.csv"',
        len(lab_get(OTHER).steps),
        2,
    )
    board = instructor.get(f"/class/teach/{classroom.code}/?lab={OTHER}").content.decode()
    assert f"export.csv?lab={OTHER}" in board


def test_the_board_of_a_second_lab_costs_the_same_queries_as_the_class_grows(instructor, db):
    _response, classroom = _create(instructor, [MAIN, OTHER])

    def add(n):
        for i in range(n):
            Membership.objects.create(
                classroom=classroom, learner=Learner.objects.create(), display_name=f"L{i}"
            )

    def count() -> int:
        with CaptureQueriesContext(db_connection) as queries:
            url = f"/class/teach/{classroom.code}/grid?lab={OTHER}"
            assert instructor.get(url, HTTP_HX_REQUEST="true").status_code == 200
        return len(queries)

    add(2)
    small = count()
    add(10)
    assert count() == small


def test_learners_see_their_class_labs_with_links(instructor, join, db):
    _response, classroom = _create(instructor, [MAIN, OTHER])
    grace = join(classroom, "Grace")
    live = grace.get("/class/live").content.decode()
    assert 'data-testid="class-labs"' in live
    assert f'href="/lab/{MAIN}/"' in live and f'href="/lab/{OTHER}/"' in live
    assert escape(lab_get(OTHER).title) in live

"""Each exam point links to the lab step that teaches it, the new labs' steps included
(issue 18: the quiz's items for EP14, EP15, EP17 and EP18 link to the new steps)."""

import pytest

from learnlab.labs.catalog import labs_all
from learnlab.quiz.bank import EXAM_POINTS, LAB_STEP


def test_every_point_names_a_step_that_exists_and_lists_that_point():
    labs = labs_all()
    for point in EXAM_POINTS:
        slug, number = LAB_STEP[point]
        assert slug in labs, point
        step = labs[slug].steps[number - 1]
        assert point in step.points, (point, slug, number)


@pytest.mark.parametrize(
    ("point", "lab"),
    [
        ("EP14", "least-privilege"),
        ("EP15", "swap-and-pass-role"),
        ("EP17", "imdsv2-ssrf"),
        ("EP18", "swap-and-pass-role"),
    ],
)
def test_the_new_labs_points_link_to_their_labs(point, lab):
    assert LAB_STEP[point][0] == lab


def test_an_answered_ep17_item_links_to_the_ssrf_lab(client, db):
    from learnlab.quiz.bank import load_bank

    page = client.get("/quiz/practice/?points=EP17").content.decode()
    item = next(i for i in load_bank().values() if f'value="{i.id}"' in page)
    answered = client.post(
        "/quiz/practice/?points=EP17", {"item": item.id, "choice": [str(i) for i in item.correct]}
    ).content.decode()
    slug, number = LAB_STEP[item.points[0]]
    assert f"/lab/{slug}/#step-{number}" in answered

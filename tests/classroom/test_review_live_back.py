"""The polled class area's forms ("I'm stuck", dismiss) go back to the page that polls it, not
to the bare partial the poll fetched (its own address, /class/live)."""

import re

HTMX = {"HTTP_HX_REQUEST": "true"}


def _nexts(page: str) -> list[str]:
    return re.findall(r'name="next" value="([^"]*)"', page)


def test_the_polled_class_area_sends_its_forms_back_to_the_lab_page(classroom, join):
    grace = join(classroom, "Grace")
    lab_page = "http://testserver/lab/instance-role/"
    polled = grace.get("/class/live", HTTP_HX_CURRENT_URL=lab_page, **HTMX).content.decode()
    assert _nexts(polled) and set(_nexts(polled)) == {lab_page}
    response = grace.post("/class/stuck", {"next": _nexts(polled)[0]})
    assert response.status_code == 302 and response["Location"] == lab_page


def test_without_the_polling_page_the_forms_go_to_the_labs_index(classroom, join):
    grace = join(classroom, "Grace")
    polled = grace.get("/class/live").content.decode()
    assert _nexts(polled) and "/class/live" not in _nexts(polled)

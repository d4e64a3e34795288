"""The instructor's first steps in the browser tests of a class: an instructor account signs in
and creates a class, whose board then shows its join code."""

import re

from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from learnlab.classroom.services import instructor_grant

PASSWORD = "x-Secret-42!"


def open_class(browser, live_server, class_name: str, username: str = "ada"):
    """Make instructor ``username``, sign in on a new browser context and create ``class_name``.
    Returns (context, page): the page is the class's board; the caller closes the context."""
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    instructor_grant(user=user)
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server.url + "/accounts/login/?next=/class/teach/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Class name").fill(class_name)
    page.get_by_role("button", name="Create class").click()
    expect(page.get_by_test_id("join-code")).to_have_text(re.compile(r"^[A-HJ-NP-Z2-9]{6}$"))
    return context, page

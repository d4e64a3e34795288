"""Guessing class codes is throttled per client, and new learners joining a class count against
the class and their address: the review found no limit at all (issue 12), then one address that
used up a whole class's joins (its second round)."""

import pytest
from django.test import Client

from learnlab.classroom.models import CODE_ALPHABET, Membership

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_cache")]


def test_ten_wrong_codes_then_the_right_one_is_refused_with_a_message(classroom, sandbox_server):
    guesser = Client(REMOTE_ADDR="203.0.113.30")
    guesses = [f"ZZZZZ{c}" for c in CODE_ALPHABET if f"ZZZZZ{c}" != classroom.code][:10]
    for guess in guesses:
        response = guesser.post("/class/", {"code": guess, "display_name": "Eve"})
        assert response.status_code == 200
        assert "No class has this code" in response.content.decode()

    refused = guesser.post("/class/", {"code": classroom.code, "display_name": "Eve"})
    assert refused.status_code == 429
    assert "Too many wrong class codes from this address" in refused.content.decode()
    assert not Membership.objects.exists()

    other = Client(REMOTE_ADDR="203.0.113.31")
    joined = other.post("/class/", {"code": classroom.code, "display_name": "Grace"})
    assert joined.status_code == 302
    assert Membership.objects.get().display_name == "Grace"


def test_a_class_behind_one_address_joins_past_the_per_client_limit_up_to_its_own(
    classroom, sandbox_server, settings
):
    settings.LEARNLAB_NEW_LEARNERS_PER_CLIENT = 2
    settings.LEARNLAB_NEW_LEARNERS_PER_CLASS = 3
    for name in ("Ada", "Alan", "Grace"):  # three new browsers behind one school address
        joined = Client(REMOTE_ADDR="203.0.113.40").post(
            "/class/", {"code": classroom.code, "display_name": name}
        )
        assert joined.status_code == 302
    refused = Client(REMOTE_ADDR="203.0.113.40").post(
        "/class/", {"code": classroom.code, "display_name": "Eve"}
    )
    assert refused.status_code == 429
    assert "Many people have just joined this class" in refused.content.decode()
    assert Membership.objects.count() == 3
    # Outside a class, the address's own limit holds.
    assert Client(REMOTE_ADDR="203.0.113.40").get("/sandbox/panel").status_code == 429


def test_one_address_that_knows_the_code_uses_up_its_own_share_not_the_classs(
    classroom, sandbox_server, settings
):
    settings.LEARNLAB_NEW_LEARNERS_PER_CLASS_CLIENT = 3
    settings.LEARNLAB_NEW_LEARNERS_PER_CLASS = 5
    for number in range(3):  # a fresh cookie-less session each time, one address
        flood = Client(REMOTE_ADDR="203.0.113.66").post(
            "/class/", {"code": classroom.code, "display_name": f"bot {number}"}
        )
        assert flood.status_code == 302
    refused = Client(REMOTE_ADDR="203.0.113.66").post(
        "/class/", {"code": classroom.code, "display_name": "bot 3"}
    )
    assert refused.status_code == 429
    assert "Many people from your address have just joined this class" in refused.text
    assert "Try again in 10 minutes" in refused.text

    for number, name in enumerate(("Grace", "Alan")):  # real students, from other addresses
        joined = Client(REMOTE_ADDR=f"198.51.100.{77 + number}").post(
            "/class/", {"code": classroom.code, "display_name": name}
        )
        assert joined.status_code == 302
    # Past the class's own limit, a safety net, nobody new joins.
    late = Client(REMOTE_ADDR="198.51.100.90").post(
        "/class/", {"code": classroom.code, "display_name": "Edsger"}
    )
    assert late.status_code == 429
    assert "Many people have just joined this class" in late.text
    assert Membership.objects.filter(classroom=classroom).count() == 5

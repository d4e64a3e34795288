"""The throttles' client behind a proxy: REMOTE_ADDR unless LEARNLAB_TRUSTED_PROXIES says how
many proxies append to X-Forwarded-For; anyone can write that header, so by default it is never
read (issue 12, second round)."""

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory

from learnlab.lib.throttle import client_address

PROXY = "10.0.0.5"
WRONG, RIGHT = "wrong-guess", "a-long-enough-password-42"


def _address(**headers) -> str:
    return client_address(RequestFactory().get("/", REMOTE_ADDR=PROXY, **headers))


def test_by_default_the_header_is_never_read(settings):
    assert settings.LEARNLAB_TRUSTED_PROXIES == 0
    assert _address(HTTP_X_FORWARDED_FOR="198.51.100.1") == PROXY


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "client"),
    [
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "203.0.113.9, 198.51.100.1", "198.51.100.1"),  # the client wrote the first itself
        (2, "203.0.113.9, 198.51.100.1, 10.0.0.4", "198.51.100.1"),
        (1, "2001:DB8::1", "2001:db8::1"),
        (2, "198.51.100.1", PROXY),  # shorter than the proxies: not through them all
        (1, "", PROXY),
        (1, "198.51.100.1, not-an-address", PROXY),
    ],
)
def test_behind_n_proxies_the_client_is_the_nth_address_from_the_right(
    settings, proxies, forwarded_for, client
):
    settings.LEARNLAB_TRUSTED_PROXIES = proxies
    assert _address(HTTP_X_FORWARDED_FOR=forwarded_for) == client


@pytest.fixture
def fresh_throttles(settings, fresh_cache):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.LEARNLAB_LOGIN_FAILURES_PER_CLIENT = 3


def _guess(forwarded_for: str, username: str, password: str) -> int:
    client = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for)
    return client.post("/accounts/login/", {"username": username, "password": password}).status_code


@pytest.mark.django_db(transaction=True)
def test_a_spoofed_header_does_not_escape_the_clients_count(fresh_throttles):
    User.objects.create_user("carol", password=RIGHT)
    for number in range(3):  # a new made-up address each guess, one real peer
        assert _guess(f"192.0.2.{number}", f"user{number}", WRONG) == 200
    assert _guess("192.0.2.99", "carol", RIGHT) == 429


@pytest.mark.django_db(transaction=True)
def test_behind_a_proxy_each_client_has_its_own_count(fresh_throttles, settings):
    settings.LEARNLAB_TRUSTED_PROXIES = 1
    User.objects.create_user("carol", password=RIGHT)
    for number in range(3):  # one guesser, who also writes a header of its own
        assert _guess(f"192.0.2.{number}, 198.51.100.7", f"user{number}", WRONG) == 200
    assert _guess("198.51.100.7", "user4", WRONG) == 429
    assert _guess("198.51.100.8", "carol", RIGHT) == 302

"""/live/wait in `manage.py runstack`'s asyncio front: held without a thread, woken by a change
another process writes, within a second; pages still answer while many waits are held."""

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from learnlab.live.services import topics_sign
from learnlab.site.launch import ROOT, free_port, stack_env, stack_start, stack_stop, stack_wait
from tests.helpers import LIVE_SESSION, live_cookie, live_wait_target

pytestmark = pytest.mark.e2e

SECRET = "live-front-test-secret-" + "x" * 40
HELD = 40  # more than the front's Django threads (2 workers x 4)


def _get(url: str, timeout: float = 30):
    """GET ``url`` as the page's visitor (their session cookie): status and body."""
    try:
        request = urllib.request.Request(url, headers=live_cookie())
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _wait(port: int, *keys: str, versions: str) -> str:
    return f"http://127.0.0.1:{port}" + live_wait_target(keys, versions, secret=SECRET)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    port = free_port()
    env = stack_env(port=port, data_dir=tmp_path_factory.mktemp("live"), SECRET_KEY=SECRET)
    process = stack_start(env)
    try:
        stack_wait(process, port)
        yield port, env
    finally:
        stack_stop(process)


def _change(env, key: str) -> float:
    """topic_changed in a process of its own (as the task cluster or another web worker)."""
    code = (
        "import time; from learnlab.live.services import topic_changed; "
        f"topic_changed({key!r}); print(time.time())"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(done.stdout.strip().splitlines()[-1])


def test_stale_versions_answer_at_once_and_a_change_wakes_a_held_wait(stack):
    port, env = stack
    _change(env, "class:41")
    started = time.monotonic()
    status, body = _get(_wait(port, "class:41", "member:3", versions="0,0"))
    assert (status, json.loads(body)) == (200, {"v": "1,0"})
    assert time.monotonic() - started < 1.0

    answered = {}

    def wait():
        answered["status"], answered["body"] = _get(_wait(port, "class:41", versions="1"))
        answered["at"] = time.time()

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(2.0)
    assert "status" not in answered  # held
    changed_at = _change(env, "class:41")
    thread.join(10)
    assert (answered["status"], json.loads(answered["body"])) == (200, {"v": "2"})
    assert answered["at"] - changed_at < 1.0


def test_bad_tokens_and_versions_are_clear_4xx(stack):
    port, _env = stack
    base = f"http://127.0.0.1:{port}/live/wait"
    forged = topics_sign(["class:41"], LIVE_SESSION, secret="guessed")
    status, body = _get(f"{base}?t={forged}&v=0")
    assert status == 403
    assert "reload the page" in json.loads(body)["error"]
    status, body = _get(_wait(port, "class:41", versions="zero"))
    assert status == 400
    assert "whole numbers" in json.loads(body)["error"]


def test_many_held_waits_take_no_thread_from_pages(stack):
    port, _env = stack
    url = _wait(port, "board:99", versions="0")
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(_get(url, timeout=40)[0]))
        for _ in range(HELD)
    ]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    assert results == []  # all still held
    for _ in range(3):
        started = time.monotonic()
        status, _body = _get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert status == 200
        assert time.monotonic() - started < 1.0
    for thread in threads:
        thread.join(40)
    assert results == [204] * HELD  # held the whole 25 s, none cut, then "nothing changed"

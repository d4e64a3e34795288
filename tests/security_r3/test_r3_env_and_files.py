"""Red team R3: ``/sandbox/env``'s refusal lines run by a real bash (``eval "$(curl ...)"``) with
hostile values reflected into them, and the terminal files pages' ``host`` with another
learner's instance id in odd spellings."""

import subprocess

import pytest
from django.test import Client

from learnlab.learners.models import Learner
from learnlab.sandbox.services import sandbox_for_learner
from learnlab.terminal.services import home_file_save, shell_open

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_cache")]

SECRET_TEXT = "the other learner's secret 7f3a"


def _eval_in_bash(text: str, tmp_path) -> subprocess.CompletedProcess:
    """What ``eval "$(curl -s .../sandbox/env?...)" && echo ran-on`` does with ``text``."""
    script = 'eval "$LEARNLAB_ENV" && echo ran-on'
    return subprocess.run(
        ["bash", "-c", script],
        env={"LEARNLAB_ENV": text, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=10,
    )


def _hostile_values(marker) -> list[str]:
    run = f"touch {marker}"
    return [
        f"$({run})",
        f"`{run}`",
        f"i-'$({run})'",
        f'i-"$({run})"',
        f"i-0123456789abcdef0\n{run}",
        f"i-0123456789abcdef0'\n{run}\n'",
        f"i-0123456789abcdef0\\'; {run}; echo '",
        f"i-0123456789abcdef0\x00; {run}",
        f"i-\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668; {run}",
        "i-0123456789abcdef0\n",  # passes the id's ^...$ regex (a trailing newline)
    ]


def test_hostile_instance_values_in_the_refusal_never_run_in_the_learners_shell(
    sandbox_server, tmp_path
):
    """Held: whatever ``?instance=`` holds (quotes, $(), backticks, newlines, NUL, non-ASCII),
    bash prints the refusal on stderr, runs nothing else, and stops the && chain."""
    learner = Client()
    assert learner.get("/sandbox/panel").status_code == 200
    marker = tmp_path / "pwned"
    _eval_in_bash(f"echo {_hostile_values(marker)[0]}", tmp_path)  # the control: unquoted, it runs
    assert marker.exists()
    marker.unlink()
    for value in _hostile_values(marker):
        answer = learner.get("/sandbox/env", {"instance": value})
        assert answer.status_code == 404, (value, answer.status_code)
        text = answer.content.decode("ascii")  # ASCII, as every /sandbox/env line
        done = _eval_in_bash(text, tmp_path)
        assert not marker.exists(), (value, text)
        assert done.returncode != 0 and "ran-on" not in done.stdout, (value, done)
        assert done.stderr.startswith("LearnLab: "), (value, done.stderr)


def test_hostile_tokens_in_the_refusal_never_run_in_the_learners_shell(sandbox_server, tmp_path):
    """Held: a ``?token=`` carrying shell syntax is refused (403), and the refusal, evaluated,
    runs nothing; the same with a valid-looking prefix."""
    marker = tmp_path / "pwned"
    for value in [*_hostile_values(marker), f"llsh_$(touch {marker})", "llsh_'\n"]:
        answer = Client(REMOTE_ADDR="203.0.113.90").get("/sandbox/env", {"token": value})
        assert answer.status_code in (403, 429), (value, answer.status_code)
        done = _eval_in_bash(answer.content.decode("ascii"), tmp_path)
        assert not marker.exists(), value
        assert done.returncode != 0 and "ran-on" not in done.stdout


OTHER_INSTANCE = "i-0abc1234def567890"
SPELLINGS = [
    OTHER_INSTANCE,
    OTHER_INSTANCE.upper(),
    f" {OTHER_INSTANCE}\n",
    f"{OTHER_INSTANCE}\n",
    f"{OTHER_INSTANCE}\u200b",
    "\uff49" + OTHER_INSTANCE[1:],  # FULLWIDTH i
    f"{OTHER_INSTANCE}/../{OTHER_INSTANCE}",
    OTHER_INSTANCE.replace("-", "\u2010"),  # HYPHEN
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_another_learners_instance_home_is_not_readable_in_any_spelling(sandbox_server, spelling):
    """Held: another learner has a file on their instance's home; the attacker asks the
    editor for it with that instance id spelled oddly (case, whitespace, zero-width, fullwidth,
    a path). Never the file's content: a 404 (not one of theirs) or their own host's empty
    file, never a 500."""
    other = shell_open(sandbox=sandbox_for_learner(learner=Learner.objects.create()))
    home_file_save(shell=other, host=OTHER_INSTANCE, name="secret.txt", content=SECRET_TEXT)
    attacker = Client()
    assert attacker.get("/sandbox/panel").status_code == 200

    page = attacker.get("/terminal/files/edit", {"host": spelling, "name": "secret.txt"})
    assert page.status_code in (200, 404), page.status_code
    assert SECRET_TEXT not in page.content.decode()
    listing = attacker.get("/terminal/files/", {"host": spelling}).content.decode()
    assert SECRET_TEXT not in listing and OTHER_INSTANCE not in listing

    deleted = attacker.post("/terminal/files/delete", {"host": spelling, "name": "secret.txt"})
    assert deleted.status_code == 302
    assert other.files.filter(host=OTHER_INSTANCE).exists()

import pytest

from learnlab.terminal.services import shell_open, shell_run


@pytest.fixture
def shell(sandbox):
    return shell_open(sandbox=sandbox)


@pytest.fixture
def run(shell):
    """Run a line in the learner's terminal, as the page does; returns the ShellResult."""

    def run_line(line):
        shell.refresh_from_db()
        return shell_run(shell=shell, line=line)

    return run_line

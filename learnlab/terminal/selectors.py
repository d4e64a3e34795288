from learnlab.learners.models import Learner
from learnlab.terminal.models import Shell

WORKSTATION_PROMPT = "[learner@workstation ~]$"


def shell_prompt(*, shell: Shell | None) -> str:
    """bash's prompt for where the shell runs: ``[learner@workstation ~]$`` or
    ``[ec2-user@ip-172-31-5-20 ~]$`` on an instance."""
    if shell is not None and shell.pending:
        return ">"  # bash's PS2: the here-document being typed continues
    if shell is None or not shell.instance_id:
        return WORKSTATION_PROMPT
    return f"[ec2-user@{shell.host_name or shell.instance_id} ~]$"


def shell_for_learner(*, learner: Learner | None) -> Shell | None:
    if learner is None:
        return None
    return Shell.objects.filter(sandbox__learner=learner).first()


def terminal_context(*, shell: Shell | None) -> dict:
    """What ``terminal/_terminal.html`` shows: the prompt, the host and the scrollback."""
    return {
        "prompt": shell_prompt(shell=shell),
        "instance_id": shell.instance_id if shell else "",
        "entries": shell.scrollback if shell else [],
    }

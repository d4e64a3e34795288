from learnlab.learners.models import Learner
from learnlab.terminal import home
from learnlab.terminal.models import HomeFile, Shell

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


def home_listing(*, shell: Shell) -> list[dict]:
    """Each home with files (and the one the shell is on, even empty): host, files."""
    current = home.host_key(shell.instance_id)
    homes: dict[str, list] = {current: []}
    rows = HomeFile.objects.filter(shell=shell).order_by("host", "name")
    for row in rows.only("host", "name", "updated_at", "content"):
        homes.setdefault(row.host, []).append(home.HomeFile(row.name, row.content, row.updated_at))
    order = sorted(homes, key=lambda host: (host != home.WORKSTATION, host))
    return [{"host": host, "files": homes[host], "current": host == current} for host in order]

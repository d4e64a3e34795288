"""Each host's small virtual home directory: what ``cat``, ``ls``, ``rm``, ``>``, ``>>``, here-
documents, the in-page editor and ``file://``/``fileb://`` in ``aws`` arguments read and write.

A home is flat (no folders) and lives in the database with the learner's shell, never on the
server's disk: a name is resolved here to a plain file name, and anything that would leave the
home (``/etc/passwd``, ``../x``, ``~root/x``, NUL bytes) is refused with a message saying where
files live. Quotas, stated in the messages: FILE_BYTES a file, FILES_PER_HOST files a host,
FILES_PER_SHELL in all hosts together.
"""

import re
from dataclasses import dataclass
from datetime import datetime

FILE_BYTES = 64 * 1024
FILES_PER_HOST = 50
FILES_PER_SHELL = 200
NAME_CHARACTERS = 100
WORKSTATION = "workstation"
# A file name: printable, no slash, not . or .., and not starting with "-" (an option to ls/rm).
NAME = re.compile(r"[A-Za-z0-9._+@%=,:\-][A-Za-z0-9._+@%=,:\- ]*")
INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")


class HomeError(Exception):
    """What went wrong with a file, worded for the terminal (the caller adds the command)."""


@dataclass(frozen=True)
class HomeFile:
    name: str
    content: str
    updated_at: datetime | None = None

    @property
    def size(self) -> int:
        return len(self.content.encode())


def home_directory(user: str) -> str:
    return f"/home/{user}"


def resolve(path: str, *, user: str) -> str:
    """The file name ``path`` means in ``user``'s home (``trust.json``, ``./trust.json``,
    ``~/trust.json``, ``/home/learner/trust.json``), or HomeError saying why it is not one."""
    home = home_directory(user)
    if "\0" in path:
        raise HomeError("file names cannot contain NUL bytes")
    name = path
    stripped = True
    while stripped:  # ~/./trust.json is trust.json
        stripped = False
        for prefix in ("~/", f"{home}/", "./"):
            if name.startswith(prefix):
                name, stripped = name[len(prefix) :], True
    if name in ("", "~", home, "."):
        raise HomeError("is a directory")
    if "/" in name or name.startswith("~") or name in (".", ".."):
        raise HomeError(
            f"not available in this lab: the terminal's files are in your home directory "
            f"({home}) only, without folders. Use a name such as trust.json or ~/trust.json"
        )
    if len(name) > NAME_CHARACTERS or not NAME.fullmatch(name) or name.endswith(" "):
        raise HomeError(
            f"not a file name this lab accepts: use letters, digits, . _ - + (up to "
            f"{NAME_CHARACTERS} characters), e.g. trust.json"
        )
    return name


def inside_a_home(path: str) -> bool:
    """Whether ``path`` names a file in the workstation's or an instance's home."""
    for user in ("learner", "ec2-user"):
        try:
            resolve(path, user=user)
            return True
        except HomeError:
            pass
    return False


def host_key(instance_id: str) -> str:
    """Which home: the workstation's, or an instance's (each instance has its own)."""
    return instance_id or WORKSTATION


class Home:
    """A shell's homes, one per host. Subclasses store the files (``services.DatabaseHome`` in
    the database, ``MemoryHome`` in a dict); this class keeps the quotas."""

    def get(self, host: str, name: str) -> HomeFile | None:
        raise NotImplementedError

    def names(self, host: str) -> list[HomeFile]:
        """The host's files, sorted by name."""
        raise NotImplementedError

    def count(self) -> int:
        """Files in all of the shell's homes."""
        raise NotImplementedError

    def _store(self, host: str, name: str, content: str) -> None:
        raise NotImplementedError

    def _delete(self, host: str, name: str) -> bool:
        raise NotImplementedError

    def read(self, host: str, name: str) -> str:
        found = self.get(host, name)
        if found is None:
            raise HomeError("No such file or directory")
        return found.content

    def write(self, host: str, name: str, content: str, *, append: bool = False) -> None:
        """Create, replace or (``append``) extend a file, within the quotas; nothing is written
        when a quota would be passed."""
        existing = self.get(host, name)
        if append and existing is not None:
            content = existing.content + content
        size = len(content.encode())
        if size > FILE_BYTES:
            raise HomeError(
                f"file too large for this lab: {size:,} bytes, {FILE_BYTES // 1024} KiB at most "
                "a file; nothing was written"
            )
        if existing is None:
            if len(self.names(host)) >= FILES_PER_HOST:
                raise HomeError(
                    f"too many files: this lab keeps {FILES_PER_HOST} files a host. Remove some "
                    "with rm (ls lists them); nothing was written"
                )
            if self.count() >= FILES_PER_SHELL:
                raise HomeError(
                    f"too many files: this lab keeps {FILES_PER_SHELL} files across your "
                    "workstation and instances. Remove some with rm; nothing was written"
                )
        self._store(host, name, content)

    def remove(self, host: str, name: str) -> None:
        if not self._delete(host, name):
            raise HomeError("No such file or directory")


class MemoryHome(Home):
    """Homes in a dict: for code that needs no database."""

    def __init__(self):
        self.files: dict[str, dict[str, str]] = {}

    def get(self, host, name):
        content = self.files.get(host, {}).get(name)
        return None if content is None else HomeFile(name, content)

    def names(self, host):
        return [HomeFile(name, text) for name, text in sorted(self.files.get(host, {}).items())]

    def count(self):
        return sum(len(files) for files in self.files.values())

    def _store(self, host, name, content):
        self.files.setdefault(host, {})[name] = content

    def _delete(self, host, name):
        return self.files.get(host, {}).pop(name, None) is not None

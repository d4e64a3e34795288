"""Defence in depth for code the terminal runs in-process (the AWS CLI).

The interpreter refuses ``file://``, redirections and the CLI's file options before anything runs.
Behind that, while a command runs (``confined()``), a Python audit hook stops its thread from
writing any file, reading files other than Python's own code and data, starting a process, or
opening a connection to anything but the sandbox server. Other threads are not affected.
"""

import contextlib
import contextvars
import functools
import os
import socket
import sys
import sysconfig
import threading
import zoneinfo
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from learnlab.sandbox import connection

_policy: contextvars.ContextVar["_Policy | None"] = contextvars.ContextVar(
    "terminal_confinement", default=None
)
_installed = False
_install_lock = threading.Lock()

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
ALWAYS_REFUSED = (
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "os.killpg",
    "pty.spawn",
    "ctypes.dlopen",
    "urllib.Request",
    "os.remove",
    "os.rename",
    "os.mkdir",
    "os.rmdir",
    "os.chmod",
    "os.chown",
    "os.truncate",
    "os.symlink",
    "os.link",
    "os.utime",
    "os.setxattr",
    "os.removexattr",
    "shutil.copyfile",
    "shutil.copymode",
    "shutil.copystat",
    "shutil.copytree",
    "shutil.move",
    "shutil.rmtree",
    "shutil.make_archive",
    "shutil.unpack_archive",
    "tempfile.mkstemp",
    "tempfile.mkdtemp",
    "webbrowser.open",
)


class Confined(PermissionError):
    """Something in a terminal command tried to leave the sandbox."""


class _Policy:
    def __init__(self, readable: tuple[str, ...], hosts: frozenset, ports: frozenset):
        self.readable = readable
        self.hosts = hosts
        self.ports = ports


@functools.cache
def _readable_roots() -> tuple[str, ...]:
    """Python's standard library and installed packages, LearnLab's own code, and the time zone
    database (public data that date handling may load lazily)."""
    roots = {str(Path(settings.BASE_DIR, "learnlab")), *zoneinfo.TZPATH}
    for scheme_vars in ({}, {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}):
        paths = sysconfig.get_paths(vars=scheme_vars)
        roots.update(paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib"))
    return tuple(sorted({os.path.realpath(root) + os.sep for root in roots}))


def _hook(event: str, args: tuple) -> None:
    policy = _policy.get()
    if policy is None:
        return
    if event == "open":
        _check_open(policy, *args[:3])
    elif event in ("os.listdir", "os.scandir"):
        _check_read(policy, args[0] if args else ".")
    elif event == "socket.connect":
        _check_address(policy, args[1])
    elif event == "socket.getaddrinfo":
        if str(args[0]) not in policy.hosts:
            raise Confined(f"the terminal may not look up {args[0]}")
    elif event.startswith(ALWAYS_REFUSED):
        raise Confined(f"the terminal may not do {event}")


def _check_open(policy: _Policy, path, mode, flags) -> None:
    writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
        isinstance(flags, int) and flags & WRITE_FLAGS
    )
    if writing:
        raise Confined("the terminal may not write files")
    _check_read(policy, path)


def _check_read(policy: _Policy, path) -> None:
    if isinstance(path, int) or path is None:
        raise Confined("the terminal may not open file descriptors")
    real = os.path.realpath(os.fsdecode(path))
    if not (real + os.sep).startswith(policy.readable):
        raise Confined("the terminal may not read files")


def _check_address(policy: _Policy, address) -> None:
    if (
        isinstance(address, tuple)
        and len(address) >= 2
        and str(address[0]) in policy.hosts
        and address[1] in policy.ports
    ):
        return
    raise Confined("the terminal may connect only to the sandbox server")


@functools.cache
def _sandbox_server(url: str) -> tuple[frozenset[str], frozenset[int]]:
    """The sandbox server's name and addresses (resolved here, before any confinement)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    hosts = {host}
    with contextlib.suppress(OSError):
        hosts.update(str(info[4][0]) for info in socket.getaddrinfo(host, port))
    return frozenset(hosts), frozenset({port})


@contextlib.contextmanager
def confined():
    """Run the body with this thread confined (see the module docstring)."""
    global _installed
    with _install_lock:
        if not _installed:
            sys.addaudithook(_hook)  # permanent, and idle for every thread outside confined()
            _installed = True
    hosts, ports = frozenset(), frozenset()
    for url in connection.server_urls():
        server_hosts, server_ports = _sandbox_server(url)
        hosts, ports = hosts | server_hosts, ports | server_ports
    token = _policy.set(_Policy(_readable_roots(), hosts, ports))
    try:
        yield
    finally:
        _policy.reset(token)

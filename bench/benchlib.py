"""Small helpers the benchmarks share (bench/ is on sys.path when a script in it runs)."""

import ctypes
import signal
import socket

PR_SET_PDEATHSIG = 1


def stop_with_parent() -> None:
    """In a child before exec: the kernel sends it SIGTERM if the benchmark dies (Linux)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def interrupt(_signum, _frame) -> None:
    """A signal handler that turns SIGTERM into KeyboardInterrupt, so clean-up runs."""
    raise KeyboardInterrupt


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

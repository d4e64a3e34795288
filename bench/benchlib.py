"""Small helpers the benchmarks share (bench/ is on sys.path when a script in it runs)."""

import ctypes
import json
import math
import os
import re
import signal
import statistics
import sys
import traceback
from pathlib import Path

# Processes are started as the tests start them; benchmarks import these from here.
from learnlab.site.launch import LaunchError, free_port, free_port_run  # noqa: F401

PR_SET_PDEATHSIG = 1


def stop_with_parent() -> None:
    """In a child before exec: the kernel sends it SIGTERM if the benchmark dies (Linux)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def interrupt(_signum, _frame) -> None:
    """A signal handler that turns SIGTERM into KeyboardInterrupt, so clean-up runs."""
    raise KeyboardInterrupt


class BenchError(Exception):
    """The benchmark could not run: a process did not start, or a step failed."""


def run_and_report(run, args, *, stopped: str, errors: tuple = ()) -> int:
    """Run ``run(args)``, write its figures to ``args.json`` if given, and turn the ways it can
    end into exit codes: 0 done, 1 error, 130 interrupted. ``stopped`` names what clean-up
    stopped, for the interrupted message."""
    # Ctrl-C or a SIGTERM (even when started in the background) stops things on the way out.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        report = run(args)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
            print(f"figures written to {args.json}")
    except KeyboardInterrupt:
        print(f"interrupted: {stopped} was stopped", file=sys.stderr)
        return 130
    except (BenchError, LaunchError, OSError, *errors) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception:  # a bug, or a failure inside learnlab: show where
        traceback.print_exc()
        return 1
    return 0


def percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (statistics.quantiles' "inclusive")."""
    position = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(samples: list[float]) -> dict | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 50),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "mean": statistics.fmean(ordered),
        "min": ordered[0],
        "max": ordered[-1],
    }


# The stack's processes, by what they are (their command lines: forked workers keep their
# parent's), for CPU time and memory: /proc/<pid>/stat, status and smaps_rollup (Linux).
ROLES = (
    ("sandbox server", "learnlab.sandbox.server"),
    ("task cluster", "qcluster"),
    ("web", "gunicorn"),
    ("web", "runserver"),
    ("supervisor", "runstack"),
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _role(command: str) -> str:
    return next((role for role, marker in ROLES if marker in command), "other")


def _kib(text: str, field: str) -> int | None:
    found = re.search(rf"^{field}:\s+(\d+)", text, re.MULTILINE)
    return int(found[1]) if found else None


def stack_processes(root_pid: int) -> list[dict]:
    """Every live process under ``root_pid`` (itself included): pid, role, command, CPU
    seconds so far (utime + stime), resident KiB, and proportional KiB (PSS: shared pages
    split between the processes sharing them; None where smaps_rollup is not readable)."""
    parents, found = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        try:
            pss = _kib((entry / "smaps_rollup").read_text(), "Pss")
        except OSError:
            pss = None
        found[pid] = {
            "pid": pid,
            "role": _role(command),
            "command": command[-80:],
            "cpu_s": (int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
            "rss_kib": _kib(status, "VmRSS") or 0,
            "pss_kib": pss,
        }

    def under_root(pid: int) -> bool:
        while pid > 1:
            if pid == root_pid:
                return True
            pid = parents.get(pid, 0)
        return False

    return [found[pid] for pid in sorted(found) if under_root(pid)]


def cpu_by_role(before: list[dict], after: list[dict]) -> dict[str, float]:
    """CPU seconds each role used between two ``stack_processes`` snapshots (processes alive
    at both; one started in between counts from its start)."""
    was = {proc["pid"]: proc["cpu_s"] for proc in before}
    used: dict[str, float] = {}
    for proc in after:
        used[proc["role"]] = used.get(proc["role"], 0.0) + proc["cpu_s"] - was.get(proc["pid"], 0)
    return used


def memory_by_role(processes: list[dict]) -> dict[str, dict]:
    """Processes, RSS and PSS (MiB) per role, and ``total``."""
    roles: dict[str, dict] = {}
    for proc in processes:
        for role in (proc["role"], "total"):
            entry = roles.setdefault(role, {"processes": 0, "rss_mib": 0.0, "pss_mib": 0.0})
            entry["processes"] += 1
            entry["rss_mib"] += proc["rss_kib"] / 1024
            if proc["pss_kib"] is None or entry["pss_mib"] is None:
                entry["pss_mib"] = None
            else:
                entry["pss_mib"] += proc["pss_kib"] / 1024
    return {role: {k: (round(v, 1) if isinstance(v, float) else v) for k, v in e.items()}
            for role, e in roles.items()}  # fmt: skip


def print_memory(memory: dict[str, dict], indent: str = "  ") -> None:
    for role, entry in sorted(memory.items(), key=lambda item: item[0] == "total"):
        pss = f"{entry['pss_mib']:7.1f}" if entry["pss_mib"] is not None else "      ?"
        print(f"{indent}memory {role:15} {entry['processes']:2d} processes  "
              f"RSS {entry['rss_mib']:7.1f} MiB  PSS {pss} MiB")  # fmt: skip

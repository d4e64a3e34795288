"""Small helpers the benchmarks share (bench/ is on sys.path when a script in it runs)."""

import ctypes
import json
import math
import signal
import statistics
import sys
import traceback

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

"""The gate's lab-wide limits: the lab's region only, a request rate per sandbox, and a body
size per protocol.

All are checked after the caller is authenticated (the body size also before the view reads a
body), so a forged request can neither spend another learner's rate nor learn anything, and
before anything reaches the sandbox server.

**Region.** Every sandbox lives in ``us-east-1`` (the sandbox server's ``DEFAULT_REGION``, the
gate client's ``Sandbox.region``): moto would otherwise build a new EC2 backend (a default VPC,
subnets, groups) for each of the 34 regions a learner names, and a lab step done in another
region would be invisible to its check. botocore signs S3 with the client's region, so a client
set to another region is refused on S3 just as on EC2: S3 in its own words
(``AuthorizationHeaderMalformed``), EC2 with the ``SignatureDoesNotMatch`` AWS gives for a
credential scoped to a region it does not serve. IAM and STS answer in any region of the ``aws``
partition, as in AWS (IAM is global; STS has an endpoint in every region): against LearnLab's
endpoint botocore signs them with the client's region, and moto keeps one backend per account
and *partition* for both. A region of another partition (``cn-north-1``, ``us-gov-west-1``) is
refused like any other wrong region (botocore's partition table says which is which): moto
would answer it from the account's empty ``aws-cn`` backend, where the lab key does not exist,
and the gate would take that for a lost sandbox and rebuild it on every call.

**Rate.** A token bucket per sandbox, whichever of its keys signs (the lab user's, or the role
credentials the lab clock hands each of its instances): ``RATE`` requests a second sustained,
bursts of ``BURST``; ``LEARNLAB_GATE_RATE`` sets the rate (the burst is twice it; 0 turns the
limit off, for benchmarks). Past it, AWS's throttling error for the protocol, which botocore
and the CLI retry with back-off (botocore's ``_retry.json`` and standard mode's throttled
codes): query APIs ``Throttling`` (400), EC2 ``RequestLimitExceeded`` (503), S3 ``SlowDown``
(503), JSON APIs ``ThrottlingException`` (400). LearnLab's own in-process calls (a check, a
console form, the terminal) are a handful per click and stay far below a burst; the clock does
not call the gate.

The buckets live in each web worker's memory, not in Django's cache: a check costs no round
trip (the gate's overhead over moto is measured in bench/gate.py), and with gunicorn's workers
a sandbox may get up to workers x ``RATE``, still far below what one sandbox server serves.

**Body size.** IAM, STS and EC2 requests are small in AWS: the largest are policy documents
(6 KiB managed, 10 KiB inline) and EC2 user data (16 KiB, about 22 KiB in base64). A body over
``MAX_QUERY_BODY`` is refused there (a lab limit); S3 keeps the gate's 5 MiB
(``LEARNLAB_GATE_MAX_BODY``). So every IAM, STS or EC2 call that succeeds is small enough to be
kept for replay (``RECORD_MAX_BYTES``, 1 MiB, in sandbox/services.py): none can be padded past
that to change a sandbox without its replay log counting it.
"""

import functools
import threading
import time

import botocore.session
from botocore.exceptions import UnknownRegionError
from django.conf import settings

from learnlab.lib.aws_errors import AwsError

LAB_REGION = "us-east-1"
LAB_PARTITION = "aws"
GLOBAL_SERVICES = {"iam", "sts"}
RATE = settings.LEARNLAB_GATE_RATE
BURST = 2 * RATE
TRACKED_SANDBOXES = 10_000  # past it, sandboxes whose buckets are full again are forgotten
MAX_QUERY_BODY = 256 * 1024  # IAM, STS (the query protocol) and EC2
IN_PROCESS_WAIT = 2.0  # seconds LearnLab's own calls may wait for their sandbox's next token

THROTTLED = {  # protocol: (code, message, status)
    "query": ("Throttling", "Rate exceeded", 400),
    "ec2": ("RequestLimitExceeded", "Request limit exceeded.", 503),
    "rest-xml": ("SlowDown", "Please reduce your request rate.", 503),
    "json": ("ThrottlingException", "Rate exceeded", 400),
    "rest-json": ("ThrottlingException", "Rate exceeded", 400),
}


def check(auth, key, protocol: str, *, in_process: bool = False) -> None:
    """Refuse a call outside the lab's region (IAM, STS: its partition) or over its sandbox's
    rate. LearnLab's own calls (``in_process``: a check, a console form, the terminal) take
    from the same bucket but wait up to IN_PROCESS_WAIT for a token, as an SDK backs off and
    retries, rather than fail a learner's click."""
    if auth.service in GLOBAL_SERVICES:
        check_partition(auth.region, protocol)
    else:
        check_region(auth.region, protocol)
    if not buckets.take(key.sandbox_id, wait=IN_PROCESS_WAIT if in_process else 0.0):
        raise AwsError(*THROTTLED[protocol])


def check_region(region: str, protocol: str) -> None:
    if region == LAB_REGION:
        return
    if protocol == "rest-xml":
        raise AwsError(
            "AuthorizationHeaderMalformed",
            f"The authorization header is malformed; the region '{region}' is wrong; "
            f"expecting '{LAB_REGION}'. LearnLab sandboxes run in {LAB_REGION} only.",
            400,
        )
    raise _wrong_region(region, f"LearnLab sandboxes run in {LAB_REGION} only")


def check_partition(region: str, protocol: str) -> None:
    """IAM and STS: any region of the ``aws`` partition (``protocol`` is the query API's)."""
    if partition_for_region(region) != LAB_PARTITION:
        raise _wrong_region(region, f"LearnLab sandboxes run in the {LAB_PARTITION} partition only")


def _wrong_region(region: str, reason: str) -> AwsError:
    return AwsError(
        "SignatureDoesNotMatch",
        f"Credential should be scoped to a valid region, not '{region}'. "
        f"{reason}: set your region to {LAB_REGION}.",
        403,
    )


@functools.cache
def _botocore_session():
    return botocore.session.get_session()


@functools.lru_cache(maxsize=128)  # every IAM and STS call asks; a learner names few regions
def partition_for_region(region: str) -> str | None:
    """The AWS partition a region belongs to, from botocore's endpoint data; None if none."""
    try:
        return _botocore_session().get_partition_for_region(region)
    except UnknownRegionError:  # a name no partition's pattern fits
        return None


def max_body(protocol: str) -> int:
    """The largest request body the gate takes for a protocol, in bytes."""
    if protocol in ("query", "ec2"):
        return MAX_QUERY_BODY
    return settings.LEARNLAB_GATE_MAX_BODY


def check_body_size(size: int, protocol: str) -> None:
    limit = max_body(protocol)
    if size <= limit:
        return
    if protocol in ("query", "ec2"):
        raise AwsError(
            "RequestEntityTooLarge",
            f"The request body is {size:,} bytes. IAM, STS and EC2 requests to a LearnLab "
            f"sandbox are limited to {limit // 1024} KiB (a lab limit; the largest policy "
            "document or user data is far smaller).",
            413,
        )
    raise AwsError(
        "EntityTooLarge",
        f"Requests to a LearnLab sandbox are limited to {limit // (1024 * 1024)} MiB.",
        400,
    )


class TokenBuckets:
    """One bucket per name: ``rate`` tokens a second, up to ``burst``; a call takes one."""

    def __init__(self, rate: float, burst: float, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.lock = threading.Lock()
        self.buckets: dict[object, tuple[float, float]] = {}  # name: (tokens, at)

    def take(self, name, *, wait: float = 0.0) -> bool:
        """Take a token; with ``wait``, sleep for one for up to that many seconds."""
        if self.rate <= 0:
            return True
        deadline = self.clock() + wait
        while True:
            now = self.clock()
            with self.lock:
                tokens, at = self.buckets.get(name, (self.burst, now))
                tokens = min(self.burst, tokens + (now - at) * self.rate)
                allowed = tokens >= 1
                self.buckets[name] = (tokens - allowed, now)
                if len(self.buckets) > TRACKED_SANDBOXES:
                    self._forget_idle(now)
            if allowed:
                return True
            until_next = (1 - tokens) / self.rate
            if now + until_next > deadline:
                return False
            time.sleep(until_next)

    def _forget_idle(self, now: float) -> None:
        refill = self.burst / self.rate
        self.buckets = {
            name: (tokens, at) for name, (tokens, at) in self.buckets.items() if now - at < refill
        }


buckets = TokenBuckets(RATE, BURST)

"""The gate's lab-wide limits: the lab's region only, and a request rate per access key.

Both are checked after the caller is authenticated, so a forged request can neither fill
another learner's bucket nor learn anything, and before anything reaches the sandbox server.

**Region.** Every sandbox lives in ``us-east-1`` (the sandbox server's ``DEFAULT_REGION``, the
gate client's ``Sandbox.region``): moto would otherwise build a new EC2 backend (a default VPC,
subnets, groups) for each of the 34 regions a learner names, and a lab step done in another
region would be invisible to its check. botocore signs S3 with the client's region, so a client
set to another region is refused on S3 just as on EC2: S3 in its own words
(``AuthorizationHeaderMalformed``), EC2 with the ``SignatureDoesNotMatch`` AWS gives for a
credential scoped to a region it does not serve. IAM and STS answer in any region, as in AWS
(IAM is global; STS has an endpoint in every region): against LearnLab's endpoint botocore
signs them with the client's region, and moto keeps one backend per account for both.

**Rate.** A token bucket per access key: ``RATE`` requests a second sustained, bursts of
``BURST``; ``LEARNLAB_GATE_RATE`` sets the rate (the burst is twice it; 0 turns the limit off,
for benchmarks). Past it, AWS's throttling error for the protocol, which botocore and the CLI
retry with back-off (botocore's ``_retry.json`` and standard mode's throttled codes): query APIs
``Throttling`` (400), EC2 ``RequestLimitExceeded`` (503), S3 ``SlowDown`` (503), JSON APIs
``ThrottlingException`` (400). LearnLab's own in-process calls (a check, a console form, the
terminal) are a handful per click and stay far below a burst; the clock does not call the gate.

The buckets live in each web worker's memory, not in Django's cache: a check costs no round
trip (the gate's overhead over moto is measured in bench/gate.py), and with gunicorn's workers
a key may get up to workers x ``RATE``, still far below what one sandbox server serves.
"""

import threading
import time

from learnlab.gate.errors import AwsError
from learnlab.lib.env import env_int

LAB_REGION = "us-east-1"
GLOBAL_SERVICES = {"iam", "sts"}
RATE = env_int("LEARNLAB_GATE_RATE", 20)
BURST = 2 * RATE
TRACKED_KEYS = 10_000  # past it, keys whose buckets are full again are forgotten

THROTTLED = {  # protocol: (code, message, status)
    "query": ("Throttling", "Rate exceeded", 400),
    "ec2": ("RequestLimitExceeded", "Request limit exceeded.", 503),
    "rest-xml": ("SlowDown", "Please reduce your request rate.", 503),
    "json": ("ThrottlingException", "Rate exceeded", 400),
    "rest-json": ("ThrottlingException", "Rate exceeded", 400),
}


def check(auth, key, protocol: str) -> None:
    """Refuse a call outside the lab's region or over its key's rate."""
    if auth.service not in GLOBAL_SERVICES:
        check_region(auth.region, protocol)
    if not buckets.take(key.access_key_id):
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
    raise AwsError(
        "SignatureDoesNotMatch",
        f"Credential should be scoped to a valid region, not '{region}'. "
        f"LearnLab sandboxes run in {LAB_REGION} only: set your region to {LAB_REGION}.",
        403,
    )


class TokenBuckets:
    """One bucket per name: ``rate`` tokens a second, up to ``burst``; a call takes one."""

    def __init__(self, rate: float, burst: float, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.lock = threading.Lock()
        self.buckets: dict[str, tuple[float, float]] = {}  # name: (tokens, at)

    def take(self, name: str) -> bool:
        if self.rate <= 0:
            return True
        now = self.clock()
        with self.lock:
            tokens, at = self.buckets.get(name, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            allowed = tokens >= 1
            self.buckets[name] = (tokens - allowed, now)
            if len(self.buckets) > TRACKED_KEYS:
                self._forget_idle(now)
        return allowed

    def _forget_idle(self, now: float) -> None:
        refill = self.burst / self.rate
        self.buckets = {
            name: (tokens, at) for name, (tokens, at) in self.buckets.items() if now - at < refill
        }


buckets = TokenBuckets(RATE, BURST)

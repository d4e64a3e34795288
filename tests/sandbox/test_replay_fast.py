"""``learnlab/sandbox/replay_fast.py``: what moto's boot and replay skip gives the same answers
as moto's own. Checked in a fresh interpreter that imports the sandbox server as it boots."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = r"""
import json, os
os.environ["LEARNLAB_SANDBOX_SECRET"] = "x"
import learnlab.sandbox.server  # noqa: F401 - boots as the server does
import boto3.session
from botocore.session import Session as BotocoreSession
from moto import settings
from moto.ec2.models import instances
from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend
from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS
from moto.utilities.utils import load_resource

root = os.path.join(os.path.dirname(instances.__file__), "..", "resources",
                    "instance_type_offerings")
offerings_same, files = True, 0
for location_type in sorted(os.listdir(root)):
    for name in sorted(os.listdir(os.path.join(root, location_type))):
        region = name.split(".")[0]
        expected = load_resource(f"ec2/resources/instance_type_offerings/{location_type}/{name}")
        for offering in expected:
            offering["LocationType"] = location_type
        offerings_same &= INSTANCE_TYPE_OFFERINGS[location_type].get(region) == expected
        files += 1
fresh = BotocoreSession()  # a session of its own: botocore's data read anew
regions = [
    region
    for partition in ("aws", "aws-us-gov", "aws-cn")
    for region in fresh.get_available_regions("ec2", partition_name=partition)
]
checker = instances.InstanceTypeOfferingBackend()
miss = {"InstanceType": "t3.micro", "Location": "us-east-1"}
skipped = checker.matches_filters(miss, {"instance-type": ["m5.large"]}, "region")
settings.EC2_ENABLE_INSTANCE_TYPE_VALIDATION = True
validated = checker.matches_filters(miss, {"instance-type": ["m5.large"]}, "region")
print(json.dumps({
    "offerings_same": offerings_same,
    "files": files,
    "lazy_regions_known": "eu-west-1" in INSTANCE_TYPE_OFFERINGS["region"],
    "regions_same": [r.name for r in RegionsAndZonesBackend.regions] == regions,
    "skipped": skipped,
    "validated": validated,
}))
"""


def _checked() -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", None)
    done = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_what_moto_skips_answers_as_moto_does():
    checked = _checked()
    # Every region's instance type offerings, read on first use, are what moto reads.
    assert checked["files"] > 30 and checked["offerings_same"]
    assert checked["lazy_regions_known"]
    # The regions moto lists from one shared endpoint loader are botocore's own.
    assert checked["regions_same"]
    # RunInstances' instance-type scan: skipped only while moto would ignore its answer.
    assert checked["skipped"] is True
    assert checked["validated"] is False

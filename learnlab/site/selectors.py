from botocore.exceptions import BotoCoreError, ClientError

from learnlab.gate.client import aws_client
from learnlab.sandbox.models import Sandbox


def sandbox_instances(*, sandbox: Sandbox) -> list[dict]:
    """The sandbox's instances that are not terminated, newest first, for the sandbox page
    (none when EC2 does not answer: the page still shows the keys)."""
    try:
        reservations = aws_client("ec2", sandbox=sandbox).describe_instances()["Reservations"]
    except (BotoCoreError, ClientError):
        return []
    instances = [
        {"id": i["InstanceId"], "state": i["State"]["Name"], "launched": i["LaunchTime"]}
        for r in reservations
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    ]
    return sorted(instances, key=lambda i: i["launched"], reverse=True)

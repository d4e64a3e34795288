import shlex

from learnlab.sandbox.models import Sandbox


def sandbox_env_lines(*, sandbox: Sandbox, gate_url: str) -> list[str]:
    """Shell lines that point the AWS CLI and SDKs at this sandbox through the gate."""
    key = sandbox.lab_key()
    values = {
        "AWS_ENDPOINT_URL": gate_url,
        "AWS_ACCESS_KEY_ID": key.access_key_id,
        "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
        "AWS_DEFAULT_REGION": sandbox.region,
    }
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


def sandbox_instances(*, sandbox: Sandbox) -> list[dict]:
    """The sandbox's instances that are not terminated, newest first, for the sandbox page
    (none when EC2 does not answer: the page still shows the keys)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from learnlab.gate.client import aws_client

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

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

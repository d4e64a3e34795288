import shlex

from learnlab.sandbox.models import Sandbox


def sandbox_env_lines(*, sandbox: Sandbox, gate_url: str) -> list[str]:
    """Shell lines that point the AWS CLI and SDKs at this sandbox through the gate. A session
    token or profile left in the shell would spoil the lab keys (a token is sent with them, a
    profile that is not in this machine's config stops the CLI): unset first."""
    key = sandbox.lab_key()
    values = {
        "AWS_ENDPOINT_URL": gate_url,
        "AWS_ACCESS_KEY_ID": key.access_key_id,
        "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
        "AWS_DEFAULT_REGION": sandbox.region,
    }
    return [
        "unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE",
        *(f"export {name}={shlex.quote(value)}" for name, value in values.items()),
    ]

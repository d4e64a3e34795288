"""Denials worded as AWS words them (IAM, STS, S3 AccessDenied; EC2 UnauthorizedOperation
with an encoded authorization message) and iam:PassRole enforced where EC2 attaches a role.
"""


def install() -> None:
    """Patch moto; called once by the sandbox server at import."""

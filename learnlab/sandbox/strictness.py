"""Where moto is laxer than AWS and a learner meets it, answer with AWS's codes and words."""


def install() -> None:
    """Patch moto; called once by the sandbox server at import."""

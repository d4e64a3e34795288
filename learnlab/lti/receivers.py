def connect() -> None:
    """Connected in LtiConfig.ready."""

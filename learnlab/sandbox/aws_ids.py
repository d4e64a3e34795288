"""Ids shaped as AWS shapes them: AIDA users, AROA roles, AIPA instance profiles, ANPA
policies, one id per thing everywhere AWS shows it.
"""


def install() -> None:
    """Patch moto; called once by the sandbox server at import."""

"""Every call LearnLab makes to an LTI platform or a learning record store has a deadline."""

import requests

TIMEOUT = (5, 15)  # connect, read (seconds)


class DeadlineSession(requests.Session):
    """A requests session whose every call times out (pylti1p3 passes none of its own)."""

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT)
        return super().request(*args, **kwargs)

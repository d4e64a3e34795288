from django.apps import AppConfig
from django.core import checks


class SandboxConfig(AppConfig):
    name = "learnlab.sandbox"

    def ready(self) -> None:
        checks.register(sandbox_servers_check)


def sandbox_servers_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A bad LEARNLAB_SANDBOX_URLS is said at start-up (runstack and manage.py run the checks),
    not as a 500 on a learner's first request."""
    from learnlab.sandbox.connection import ServerListError, servers

    try:
        servers()
    except ServerListError as error:
        return [checks.Error(str(error), id="learnlab.sandbox.E001")]
    return []

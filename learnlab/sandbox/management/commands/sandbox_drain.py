"""``manage.py sandbox_drain NAME``: every sandbox off a sandbox server (a host that leaves)."""

from django.core.management import BaseCommand, CommandError
from django.db.models import Count

from learnlab.sandbox import connection, drain
from learnlab.sandbox.models import Sandbox


class Command(BaseCommand):
    help = (
        "Drain a sandbox server: no new sandboxes go there, and each of its sandboxes is rebuilt "
        "on another server from its recorded calls (same keys and ids), most recently used "
        "first. Safe to re-run. Without a server: list the servers and their sandboxes."
    )

    def add_arguments(self, parser):
        parser.add_argument("server", nargs="?", help="the server's name, URL or host:port")
        parser.add_argument(
            "--cancel", action="store_true", help="stop draining: it takes new sandboxes again"
        )
        parser.add_argument(
            "--settle",
            type=float,
            default=drain.SETTLE_SECONDS,
            help="seconds a moving sandbox's calls already sent may take (default %(default)s)",
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=drain.BATCH,
            help="sandboxes moved together (default %(default)s)",
        )

    def handle(self, *args, server, cancel, settle, batch, **options):
        try:
            if server is None:
                return self._list()
            if settle < 0 or batch < 1:
                raise CommandError("--settle is 0 or more seconds, --batch 1 or more sandboxes.")
            name = drain.server_resolve(server)
            if cancel:
                drain.server_drain_cancel(name)
                self.stdout.write(f"{name} takes new sandboxes again.")
                return None
            result = drain.server_drain(
                name, settle=settle, batch=batch, report=lambda line: self.stdout.write(line)
            )
        except (drain.DrainError, connection.ServerListError) as error:
            raise CommandError(str(error)) from error
        if result.failed:
            raise CommandError(
                f"{len(result.failed)} sandboxes could not be rebuilt yet (they stay lost on "
                "their new server and the lab clock retries them); run this again to check."
            )
        return None

    def _list(self):
        listed_servers = connection.servers()
        counts = dict(Sandbox.objects.values_list("server").annotate(count=Count("pk")))
        draining = drain.servers_draining()
        for listed in listed_servers:
            state = "draining" if listed.name in draining else "open"
            held = counts.pop(listed.name, 0)
            self.stdout.write(f"{listed.name}  {listed.url}  {state}  {held} sandboxes")
        for name, held in counts.items():
            self.stdout.write(f"{name}  (not listed)  {held} sandboxes, moved on the next tick")

import os

from django.core.management import BaseCommand, call_command

from learnlab.site.supervisor import hand_over, kick_clock


class Command(BaseCommand):
    help = "Run the sandbox server, the task cluster and the web server until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--dev", action="store_true", help="runserver with autoreload")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))

    def handle(self, *args, dev, port, host, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)  # the throttles' counters (settings.CACHES)
        call_command("clearsessions", verbosity=0)  # sessions live in the database: drop expired
        if not dev:
            call_command("collectstatic", interactive=False, verbosity=0)
        else:
            # DEBUG: the lab loader re-reads a changed lab file and an open lab page reloads.
            self.stdout.write(
                "[learnlab] lab preview: edit learnlab/labs/content/*.toml and the open lab page "
                "reloads; check a file with manage.py lab validate FILE (docs/authoring.md)"
            )
        # Queued now, run once the task cluster is up: the clock starts without waiting for the
        # scheduler's first check (~30 s).
        kick_clock()
        hand_over(port=port, host=host, dev=dev)  # the Django-free watcher, same pid

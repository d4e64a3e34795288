"""Register an LTI 1.3 platform (`manage.py lti_platform add ...`), list them, or switch one
off; the tool's own URLs to give the platform are printed."""

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError
from lti_tool.models import Key, LtiDeployment, LtiRegistration


class Command(BaseCommand):
    help = "Register LTI 1.3 platforms: add, list, deactivate."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="register a platform")
        add.add_argument("--name", required=True)
        add.add_argument("--issuer", required=True, help="the platform's iss")
        add.add_argument("--client-id", required=True, help="the client id it gave LearnLab")
        add.add_argument("--auth-url", required=True, help="its OIDC authorization endpoint")
        add.add_argument("--token-url", required=True, help="its OAuth2 access token URL")
        add.add_argument("--keyset-url", required=True, help="its JWKS URL")
        add.add_argument("--deployment-id", action="append", default=[])
        add.add_argument("--site", default="http://localhost:8000", help="LearnLab's address")
        sub.add_parser("list", help="list platforms")
        off = sub.add_parser("deactivate", help="refuse a platform's launches from now on")
        off.add_argument("--issuer", required=True)
        off.add_argument("--client-id", required=True)

    def handle(self, *args, action, **options):
        getattr(self, f"_{action}")(**options)

    def _add(
        self, *, name, issuer, client_id, auth_url, token_url, keyset_url, deployment_id, site, **_
    ):
        try:
            registration = LtiRegistration.objects.create(
                name=name,
                issuer=issuer,
                client_id=client_id,
                auth_url=auth_url,
                token_url=token_url,
                keyset_url=keyset_url,
            )
        except IntegrityError:
            raise CommandError(
                f"{issuer} already has client id {client_id} registered: see `lti_platform list`."
            ) from None
        for deployment in deployment_id:
            LtiDeployment.objects.create(
                registration=registration, deployment_id=deployment, is_active=True
            )
        if not Key.objects.active().exists():
            Key.objects.generate()
        site = site.rstrip("/")
        self.stdout.write(self.style.SUCCESS(f"Registered {name} ({issuer}, {client_id})."))
        self.stdout.write("Give the platform these tool URLs:")
        self.stdout.write(f"  OIDC login initiation: {site}/lti/login/{registration.uuid}/")
        self.stdout.write(f"  Redirect / launch URL: {site}/lti/launch/")
        self.stdout.write(f"  Deep linking URL:      {site}/lti/launch/")
        self.stdout.write(f"  Public keyset (JWKS):  {site}/lti/jwks.json")

    def _list(self, **_):
        for r in LtiRegistration.objects.order_by("name"):
            deployments = ", ".join(r.deployments.values_list("deployment_id", flat=True))
            state = "active" if r.is_active else "inactive"
            self.stdout.write(
                f"{r.name}: {r.issuer} client {r.client_id} ({state}) uuid {r.uuid} "
                f"deployments [{deployments}]"
            )

    def _deactivate(self, *, issuer, client_id, **_):
        if not LtiRegistration.objects.filter(issuer=issuer, client_id=client_id).update(
            is_active=False
        ):
            raise CommandError(f"No platform {issuer} with client id {client_id}.")
        self.stdout.write(self.style.SUCCESS(f"{issuer} ({client_id}) deactivated."))

"""An LTI 1.3 platform for the tests, built on lti1p3platform (an independent platform-side
library: its OIDC preflight, signed launches, Deep Linking response validation, OAuth2 client
credentials grant checked against the tool's JWKS, and its AGS and NRPS service handlers),
served over real HTTP by a small threaded server. What a platform stores (line items, scores,
its roster) lives in memory here; every protocol decision is the library's."""

import json
import threading
import typing as t
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from jwcrypto.jwk import JWK
from lti1p3platform.exceptions import LineItemNotFoundException
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.membership import Context
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request
from lti1p3platform.score import UpdateScoreStatus
from lti1p3platform.service_connector import (
    AssignmentsGradesService,
    NamesRoleProvisioningService,
)

INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"


class _Request(Request):
    def build_metadata(self, request):
        return request


class _Conf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs):
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs):
        return self._registration


class _Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs):
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url):
        return url


class _Launch(LTIAdvantageMessageLaunchAbstract):
    def render_launch_form(self, launch_data, **kwargs):
        return launch_data


class Platform:
    """One platform, one course (context ``course-1``): ``login_url`` starts a launch as a
    platform's page would; the server answers the OIDC authorization request with the signed
    launch, and serves the platform's JWKS, token, AGS and NRPS endpoints."""

    def __init__(self, tool_url: str):
        self.tool_url = tool_url.rstrip("/")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = self.url
        self.client_id = "learnlab-tool"
        self.deployment_id = "deployment-1"
        key = JWK.generate(kty="RSA", size=2048)
        self.private_pem = key.export_to_pem(private_key=True, password=None).decode()
        self.public_pem = key.export_to_pem().decode()
        self.tool_registration_uuid = None
        self.launches: dict[str, dict] = {}  # lti_message_hint -> what to launch
        self.lineitems: dict[str, dict] = {}
        self.scores: list[dict] = []
        self.deep_link_items: list[dict] = []
        self.roster: list[dict] = []
        self.requests: list[str] = []
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- the platform's setup -------------------------------------------------------------
    def registration(self) -> Registration:
        return (
            Registration()
            .set_iss(self.issuer)
            .set_client_id(self.client_id)
            .set_deployment_id(self.deployment_id)
            .set_oidc_login_url(f"{self.tool_url}/lti/login/{self.tool_registration_uuid}/")
            .set_launch_url(f"{self.tool_url}/lti/launch/")
            .set_deeplink_launch_url(f"{self.tool_url}/lti/launch/")
            .set_tool_key_set_url(f"{self.tool_url}/lti/jwks.json")
            .set_platform_public_key(self.public_pem)
            .set_platform_private_key(self.private_pem)
        )

    def conf(self) -> _Conf:
        return _Conf(registration=self.registration())

    def start(self) -> "Platform":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what a course page does ----------------------------------------------------------
    def login_url(
        self,
        *,
        user: str,
        roles: list[str],
        name: str = "",
        deep_link=False,
        resource_link: str = "link-1",
        custom: dict | None = None,
        lineitem: str | None = None,
        expiration: int = 300,
    ) -> str:
        hint = uuid.uuid4().hex
        self.launches[hint] = {
            "user": user,
            "roles": roles,
            "name": name,
            "deep_link": deep_link,
            "resource_link": resource_link,
            "custom": custom or {},
            "lineitem": lineitem,
            "expiration": expiration,
        }
        login = _Login(None, self.conf())
        login.set_lti_message_hint(hint=hint)
        return login.initiate_login(user)

    def signed_launch(self, preflight: dict) -> dict:
        """The OIDC authorization endpoint: the launch, signed, for the tool's redirect_uri."""
        what = self.launches[preflight["lti_message_hint"]]
        launch = _Launch(_Request({"get_data": preflight, "form_data": {}}), self.conf())
        launch.set_user_data(what["user"], what["roles"], full_name=what["name"] or None)
        launch.set_launch_context_claim(
            "course-1",
            ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
            "IAM 101",
            "IAM101",
        )
        launch.set_id_token_expiration(what["expiration"])
        if what["deep_link"]:
            launch.set_dl(
                f"{self.url}/deep-link-return", title="Pick a lab", accept_types={"ltiResourceLink"}
            )
        else:
            launch.set_resource_link_claim(what["resource_link"], title="LearnLab")
            if what["custom"]:
                launch.set_custom_parameters_claim(what["custom"])
            launch.set_ags(f"{self.url}/lineitems", what["lineitem"])
            launch.set_nrps(f"{self.url}/memberships")
        return launch.lti_launch()

    # -- the HTTP side --------------------------------------------------------------------
    def _handler(self):
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _request(self) -> dict:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                content_type = self.headers.get("Content-Type", "")
                form = dict(parse_qsl(body.decode())) if "form" in content_type else {}
                data = json.loads(body) if body and "json" in content_type else None
                return {
                    "method": self.command,
                    "form_data": form,
                    "json": data,
                    "get_data": dict(parse_qsl(parts.query)),
                    "headers": dict(self.headers),
                    "content_type": content_type,
                    "path": parts.path,
                }

            def _send(self, code: int, body, content_type="application/json"):
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _answer(self, response):
                data = response.result
                if isinstance(data, dict) and "content" in data:
                    data = data["content"]
                if response.code >= 300:
                    data = {"error": response.message}
                self._send(response.code, data if data is not None else b"", response.media_type)

            def do_GET(self):
                self._route()

            def do_POST(self):
                self._route()

            def _route(self):
                request = self._request()
                path = request["path"]
                platform.requests.append(f"{self.command} {path}")
                conf = platform.conf()
                if path == "/jwks":
                    return self._send(200, conf.get_jwks())
                if path == "/auth":
                    launch = platform.signed_launch(request["get_data"])
                    return self._send(200, launch)
                if path == "/token":
                    try:
                        return self._send(200, conf.get_access_token(request["form_data"]))
                    except Exception as error:  # the library's refusal, as a platform says it
                        return self._send(400, {"error": "invalid_client", "detail": str(error)})
                if path == "/deep-link-return":
                    items = conf.validate_deeplinking_resp(request["form_data"])
                    platform.deep_link_items.extend(items)
                    for item in items:
                        if item.get("lineItem"):
                            ident = f"{platform.url}/lineitems/{len(platform.lineitems) + 1}"
                            platform.lineitems[ident] = {"id": ident, **item["lineItem"]}
                    return self._send(200, {"saved": len(items)})
                if path == "/memberships":
                    service = _Roster(_Request(request), conf, f"{platform.url}/memberships")
                    service.platform = platform
                    return self._answer(service.handle_resp(service.handle_get_members))
                if path.startswith("/lineitems"):
                    service = _Grades(_Request(request), conf, f"{platform.url}/lineitems")
                    service.platform = platform
                    rest = path.removeprefix("/lineitems").strip("/")
                    if not rest:
                        handler = (
                            service.handle_create_lineitem
                            if self.command == "POST"
                            else service.handle_get_lineitems
                        )
                        return self._answer(service.handle_resp(handler))
                    ident, _, what = rest.partition("/")
                    line_item_id = f"{platform.url}/lineitems/{ident}"
                    if what == "scores":
                        return self._answer(
                            service.handle_resp(
                                service.handle_update_score, line_item_id=line_item_id
                            )
                        )
                    return self._answer(
                        service.handle_resp(service.handle_get_lineitem, line_item_id=line_item_id)
                    )
                return self._send(404, {"error": "no such endpoint"})

        return Handler


class _Grades(AssignmentsGradesService):
    platform: Platform

    def find_lineitems(
        self,
        page=1,
        limit=None,
        line_item_id=None,
        resource_link_id=None,
        resource_id=None,
        tag=None,
        **_,
    ):
        items = list(self.platform.lineitems.values())
        if resource_id:
            items = [i for i in items if i.get("resourceId") == resource_id]
        if resource_link_id:
            items = [i for i in items if i.get("resourceLinkId") == resource_link_id]
        return {"content": items, "has_next": False, "next": None}

    def find_lineitem(self, line_item_id):
        if line_item_id not in self.platform.lineitems:
            raise LineItemNotFoundException
        return self.platform.lineitems[line_item_id]

    def create_lineitem(self, creation_data):
        ident = f"{self.platform.url}/lineitems/{len(self.platform.lineitems) + 1}"
        item = {"id": ident, **creation_data}
        self.platform.lineitems[ident] = item
        return item

    def update_lineitem(self, update_data):
        self.platform.lineitems[update_data["id"]].update(update_data)
        return self.platform.lineitems[update_data["id"]]

    def delete_lineitem(self, line_item_id):
        self.platform.lineitems.pop(line_item_id, None)

    def update_score(self, line_item_id, score):
        self.find_lineitem(line_item_id)
        self.platform.scores.append({"lineitem": line_item_id, **score})
        return UpdateScoreStatus.SUCCESS

    def get_results(self, line_item_id, page=1, limit=None, user_id=None):
        return {"content": [], "has_next": False, "next": None}


class _Roster(NamesRoleProvisioningService):
    platform: Platform

    def get_member_data_page(self, page=1, limit=None, role=None, since=None, **_):
        return {"content": list(self.platform.roster), "has_next": False, "next": None}

    def get_context_by_id(self) -> Context:
        return Context(id="course-1", label="IAM101", title="IAM 101")


def auto_post_form(launch: dict) -> tuple[str, dict[str, t.Any]]:
    """The platform's auto-submitting form, as a browser would post it: (action, fields)."""
    return launch["launch_url"], {"id_token": launch["id_token"], "state": launch["state"]}

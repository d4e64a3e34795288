"""The AWS gate: every AWS call in LearnLab passes through ``gate_handle``.

Learners' own tools reach it over HTTP at ``/aws/``; the console forms, the terminal and the task
cluster reach it in-process through ``learnlab.gate.client``. Either way it authenticates the
caller, maps their key to their sandbox, rejects what AWS would reject (and what would escape the
sandbox), and forwards the rest to the sandbox server with the account header.
"""

import hmac
import logging
import re
import secrets
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import OperationalError, connections, transaction
from django.utils import timezone

from learnlab.denials.services import (
    DENIAL_CODES,
    denial_from_response,
    denial_record_refusal,
    denial_record_trust,
)
from learnlab.gate import allowlist, fidelity, limits, parsing, signing
from learnlab.gate.user_keys import user_keys_follow
from learnlab.lib import aws_errors
from learnlab.lib.aws_errors import AwsError, GateResponse, protocol_for
from learnlab.sandbox import connection
from learnlab.sandbox.calls import RecordedCall
from learnlab.sandbox.models import AccessKey, Sandbox
from learnlab.sandbox.services import (
    access_key_mark_used,
    sandbox_call_record,
    sandbox_log_has_room,
    sandbox_rebuild,
    sandbox_touch,
)

log = logging.getLogger(__name__)
REPLAY_LOG_FULL = (
    "Your sandbox has recorded as many changes as it can keep. "
    "Reset the lab to start again with a fresh sandbox."
)

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
# Replaced on the way in (the gate signs for the sandbox server) or out (Django's own).
NOT_FORWARDED = HOP_BY_HOP | {
    "content-length",
    "host",
    "x-moto-account-id",
    connection.SECRET_HEADER.lower(),
    connection.SEED_HEADER.lower(),
}
NOT_RETURNED = HOP_BY_HOP | {"server", "date"}
GATE_PREFIX = parsing.GATE_PREFIX
# moto builds a host name from the scope's region to pick a service: no dots, no tricks.
REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-[0-9]{1,2}$")
LOST_SANDBOX_CODES = (b"InvalidClientTokenId", b"InvalidAccessKeyId", b"AuthFailure")
# Calls that only read are not recorded for replay; neither are STS's, which change nothing.
READ_ACTIONS = ("Describe", "Get", "List", "Head", "Simulate", "Generate", "Lookup", "Search")
NOT_REPLAYED_SERVICES = {"sts"}
REPLAYED_HEADERS = {"content-type", "content-encoding", "content-md5", "x-amz-target"}
NOT_REPLAYED_HEADERS = {"x-amz-date", "x-amz-security-token"}


@dataclass
class GateRequest:
    """An AWS request as it reached the gate. ``raw_path`` is percent-encoded as the client sent
    and signed it (``/aws`` for query APIs, ``/aws/bucket/key`` for S3); header names are
    lower-case."""

    method: str
    raw_path: str
    query: str
    headers: dict
    body: bytes
    in_process: bool = False  # LearnLab's own call (gate/client.py), not a learner's tool


def gate_handle(request: GateRequest) -> GateResponse:
    auth = signing.parse_authorization(request.headers.get("authorization"))
    protocol = protocol_for(auth.service if auth else "s3", request.headers)
    try:
        return _handle(request, auth, protocol)
    except AwsError as error:
        return error.render(protocol)
    except connection.SANDBOX_ERRORS:
        log.warning("sandbox server unavailable", exc_info=True)
        return aws_errors.sandbox_unavailable().render(protocol)
    except OperationalError:
        # The database is locked past its busy timeout: a 503, which AWS SDKs and the CLI retry.
        log.warning("database busy", exc_info=True)
        return aws_errors.database_busy().render(protocol)
    except Exception:
        # Never a stack trace to an AWS client: AWS's own answer for a server fault.
        log.exception("gate failure")
        return AwsError(
            "InternalFailure",
            "The request processing has failed because of an unknown error.",
            500,
        ).render(protocol)


def _handle(request: GateRequest, auth, protocol: str) -> GateResponse:
    # Decoded and without dot segments, as the sandbox server will route it.
    parsing.upstream_path(request.raw_path)
    if auth is None:
        raise aws_errors.missing_authentication(protocol)
    key = key_lookup(auth.access_key_id)
    if key is None:
        raise aws_errors.invalid_key(protocol)
    _authenticate(request, auth, key, protocol)
    allowlist.check_service(auth.service)
    # The lab's region, the sandbox's rate: before any work.
    limits.check(auth, key, protocol, in_process=request.in_process)
    sandbox = key.sandbox
    # Refused before it costs a rebuild: what moto must never see, whatever state the sandbox.
    try:
        parsed = _parse(request, auth, protocol, account_id=sandbox.account_id)
    except AwsError as error:
        _record_gate_denial(request, key, {}, error)
        raise
    params = parsed.params

    if sandbox.status != Sandbox.Status.READY:
        sandbox_rebuild(sandbox=sandbox)
    sandbox_touch(sandbox=sandbox)

    try:
        fidelity.check(auth.service, params.get("Action", ""), params, key=key)
    except AwsError as error:
        _record_gate_denial(request, key, params, error)
        raise

    if not sandbox_log_has_room(sandbox=sandbox) and _changes_sandbox(
        auth.service, _action(request, protocol, params)
    ):  # the replay log is full: a change now could not be rebuilt after a restart
        raise AwsError("LimitExceeded", REPLAY_LOG_FULL, 400)
    seed = secrets.randbits(62)  # moto draws this call's random ids from it
    response = _forward(request, key, seed)
    if _sandbox_was_lost(response, key):
        # The sandbox server restarted and lost this account: rebuild it, then retry once.
        sandbox_rebuild(sandbox=sandbox)
        response = _forward(request, key, seed)
    if response.status == 403:  # keep the denial's trace for "Explain", strip its header
        denial_from_response(sandbox=sandbox, response=response, in_process=request.in_process)
    if response.status < 400:
        _after_success(request, auth, key, protocol, params, seed)
        user_keys_follow(service=auth.service, params=params, body=response.body, key=key)
    return response


class _KeyQuery(threading.local):
    """The gate's hottest query, the key with its sandbox, compiled by the ORM once per thread
    (a thread's own database connection) instead of on every call: building and compiling the
    queryset cost ten times what the database took (bench/gate.py). The rows are read fresh on
    every call, so a revoked key, a rotated secret or a lost sandbox is seen at once."""

    compiled = None

    def get(self):
        if self.compiled is None:
            # [:1] rather than first(): no ORDER BY.
            query = AccessKey.objects.select_related("sandbox").filter(access_key_id="")[:1]
            compiler = query.query.get_compiler(query.db)
            sql, params = compiler.as_sql()
            if list(params) != [""]:
                raise RuntimeError(f"the key query takes {params!r}, not one key id")
            select, info = compiler.select, compiler.klass_info
            related = info["related_klass_infos"][0]
            self.compiled = (
                query.db,
                sql,
                compiler,
                compiler.get_converters([column[0] for column in select]),
                _columns(select, info["select_fields"]),
                _columns(select, related["select_fields"]),
                related["local_setter"],
            )
        return self.compiled


def _columns(select, fields: list[int]) -> tuple[slice, list[str]]:
    start, end = fields[0], fields[-1] + 1
    return slice(start, end), [column[0].target.attname for column in select[start:end]]


_key_query = _KeyQuery()


def key_lookup(access_key_id: str) -> AccessKey | None:
    """The access key and its sandbox (one query, as ``select_related`` makes it), or None."""
    alias, sql, compiler, converters, (key_slice, key_names), (box_slice, box_names), attach = (
        _key_query.get()
    )
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [access_key_id])
        row = cursor.fetchone()
    if row is None:
        return None
    if converters:
        row = next(iter(compiler.apply_converters([row], converters)))
    key = AccessKey.from_db(alias, key_names, row[key_slice])
    attach(key, Sandbox.from_db(alias, box_names, row[box_slice]))
    return key


def _record_gate_denial(request: GateRequest, key: AccessKey, params, error: AwsError) -> None:
    """A denial the gate itself answers, traced for "Explain": AssumeRole refused by the role's
    trust policy (fidelity.check_assume_role), or a request naming another account."""
    if error.code not in DENIAL_CODES:
        return
    if params.get("Action") != "AssumeRole":
        denial_record_refusal(
            sandbox=key.sandbox,
            principal_arn=key.principal_arn,
            code=error.code,
            message=error.message,
            in_process=request.in_process,
        )
        return
    role_arn = params.get("RoleArn", "")
    try:
        role = connection.role_get(key.sandbox.account_id, role_arn.rpartition("/")[2])
    except connection.SANDBOX_ERRORS:
        role = None
    trust = role["trust_policy"] if role and role.get("arn") == role_arn else None
    denial_record_trust(
        sandbox=key.sandbox,
        principal_arn=key.principal_arn,
        role_arn=role_arn,
        trust_policy=trust,
        message=error.message,
        in_process=request.in_process,
    )


def _after_success(request: GateRequest, auth, key: AccessKey, protocol, params, seed) -> None:
    """Bookkeeping of a call that succeeded in the sandbox: a busy database must not turn it
    into a failure the learner would retry."""
    try:
        action = _action(request, protocol, params)
        changes = _changes_sandbox(auth.service, action)
        if not changes:
            access_key_mark_used(key=key)
            return
        with transaction.atomic():  # one write transaction, not one a statement
            access_key_mark_used(key=key)
            _record(request, auth, key, action, seed)
    except OperationalError:
        log.warning("database busy: %s not recorded for replay", request.raw_path, exc_info=True)


def _action(request: GateRequest, protocol: str, params: dict) -> str:
    if protocol == "json":
        return request.headers.get("x-amz-target", "").rpartition(".")[2]
    return params.get("Action", "") or request.method


def _changes_sandbox(service: str, action: str) -> bool:
    """Worth replaying: not a read (S3's action here is the HTTP method), not STS."""
    return (
        service not in NOT_REPLAYED_SERVICES
        and action not in ("GET", "HEAD")
        and not action.startswith(READ_ACTIONS)
    )


def _record(request: GateRequest, auth, key: AccessKey, action: str, seed: int) -> None:
    """Keep the call for replay: what moto reads of it, not the learner's signature."""
    headers = {
        name: value
        for name, value in request.headers.items()
        if name in REPLAYED_HEADERS
        or (name.startswith("x-amz-") and name not in NOT_REPLAYED_HEADERS)
    }
    call = RecordedCall(
        method=request.method,
        path=_upstream_path(request),
        headers=headers,
        body=request.body,
        scope=f"{auth.region}/{auth.service}",
        seed=seed,
        action=action,
    )
    sandbox_call_record(sandbox=key.sandbox, call=call)


def _upstream_path(request: GateRequest) -> str:
    path = request.raw_path.removeprefix(GATE_PREFIX) or "/"
    return path + (f"?{request.query}" if request.query else "")


def _sandbox_was_lost(response: GateResponse, key: AccessKey) -> bool:
    return (
        response.status in (401, 403)
        and key.kind == AccessKey.Kind.LAB_USER
        and any(code in response.body for code in LOST_SANDBOX_CODES)
    )


def _authenticate(request: GateRequest, auth, key: AccessKey, protocol: str) -> None:
    signed_at = signing.request_time(request.headers)
    if signed_at is None or "host" not in auth.signed_headers:
        raise aws_errors.bad_signature(protocol)
    expected = signing.signature(
        auth=auth,
        method=request.method,
        raw_path=request.raw_path,
        query=request.query,
        headers=request.headers,
        body=request.body,
        secret_access_key=key.secret_access_key,
        session_token=key.session_token,
    )
    if not _constant_time_equal(expected, auth.signature):
        raise aws_errors.bad_signature(protocol)
    if signing.is_skewed(signed_at, timezone.now()):
        raise AwsError(
            "SignatureDoesNotMatch",
            "Signature expired: the request was signed more than 15 minutes from now. "
            "Check your computer's clock.",
            403,
        )
    if key.session_token and request.headers.get("x-amz-security-token") != key.session_token:
        raise aws_errors.invalid_key(protocol)
    if key.is_expired(timezone.now()):
        raise aws_errors.expired_token(protocol)


def _constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _parse(request: GateRequest, auth, protocol: str, *, account_id: str):
    """Read the request as moto will, then refuse what the lab does not offer. The account
    check comes before anything that repeats the request's words in its answer."""
    if not REGION.fullmatch(auth.region):
        raise aws_errors.invalid_scope()
    parsed = parsing.parse_request(request, protocol)
    fidelity.check_own_account(parsed.texts, account_id=account_id, protocol=protocol)
    if name := parsed.duplicate:
        raise aws_errors.duplicate_parameter(protocol, name)
    if protocol == "rest-xml":
        allowlist.check_s3(request.method, parsed.upstream_path, [n for n, _ in parsed.pairs])
    else:
        allowlist.check_query_action(auth.service, protocol, parsed.params.get("Action", ""))
    return parsed


def _forward(request: GateRequest, key: AccessKey, seed: int) -> GateResponse:
    """Send the request on to moto in the key's account. The learner's signature covered the
    gate's URL, so the shared secret vouches for it instead; moto still checks the key, the
    session token and the caller's policies."""
    headers = {
        name: value
        for name, value in request.headers.items()
        if name not in NOT_FORWARDED and not name.startswith("x-forwarded")
    }
    server = key.sandbox.server
    headers["host"] = connection.upstream_host(server)
    headers["x-moto-account-id"] = key.sandbox.account_id
    headers[connection.SECRET_HEADER] = settings.LEARNLAB_SANDBOX_SECRET
    headers[connection.SEED_HEADER] = str(seed)
    upstream = connection.forward(
        request.method, _upstream_path(request), headers=headers, body=request.body, server=server
    )
    response_headers = {
        name: value for name, value in upstream.headers.items() if name.lower() not in NOT_RETURNED
    }
    return GateResponse(upstream.status, response_headers, upstream.data)

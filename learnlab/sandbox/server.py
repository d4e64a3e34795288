"""The sandbox server: moto's AWS in its own process, one moto account per learner sandbox.

Run it with ``python -m learnlab.sandbox.server --port 5055``. It is deliberately not a Django
process: every web worker and the task cluster share this one copy of moto's state. Learners
never talk to it directly; the AWS gate (``learnlab.gate``) forwards their signed requests with
the ``x-moto-account-id`` header of their own sandbox.

A forwarded call may carry ``X-LearnLab-Seed``: moto's random ids (instance, association, role
ids) are drawn from that seed, so replaying the same calls with the same seeds after a restart
rebuilds a sandbox with the ids its learner saw.

Besides moto's AWS API it serves a few internal endpoints under ``/_admin/`` that moto lacks.
They require the shared secret in the ``X-LearnLab-Secret`` header. AWS requests forwarded by
the gate carry it too, which spares moto re-checking a signature the gate has checked:

    GET    /_admin/health                               boot id, accounts, memory
    PUT    /_admin/accounts/<acct>                      create the lab user and its keys; to
                                                        rebuild, replay the recorded calls too
    PUT    /_admin/rebuilds                             rebuild several accounts, one by one
    DELETE /_admin/accounts/<acct>                      drop the account, free its memory
    POST   /_admin/accounts/<acct>/access-keys          rotate the lab user's key
    GET    /_admin/accounts/<acct>/roles/<name>         a role's ARN and trust policy
    GET    /_admin/accounts/<acct>/instance-profiles/<n> a profile's ARN and roles
    POST   /_admin/accounts/<acct>/role-credentials     mint credentials for a role
    DELETE /_admin/accounts/<acct>/role-credentials/<k> forget superseded credentials
    GET    /_admin/accounts/<acct>/instances/<id>       an instance as its metadata service
                                                        sees it (state, profile, endpoint)
    GET    /_admin/attached-instances                   every running instance whose profile
                                                        holds a role EC2 may assume, all
                                                        accounts: what the clock keeps supplied

Learners are untrusted, so the server defends itself whatever the gate lets through: during a
forwarded call moto hands out no backend of any account but the request's own (an AWS
AccessDenied instead: ``_own_account_only``), each account has S3 bucket names of its own
(``BucketNamespaces``), and the process opens no outbound connection at all
(``refuse_outbound_network``). A rebuild replays its calls in short slices under the lock
(``REPLAY_SLICE_SECONDS``, and one call only while another request waits for the lock), so
other learners' calls go on in between; calls for the account being rebuilt get a 503.

This module touches moto internals; moto is pinned in pyproject.toml for that reason and
tests/sandbox/test_server.py exercises every one of them.
"""

import argparse
import contextlib
import errno
import functools
import gc
import hmac
import json
import os
import re
import secrets
import socket
import string
import sys
import threading
import time
import uuid
from collections.abc import MutableMapping
from pathlib import Path
from urllib.parse import unquote

# moto reads these at import time: set them before the first moto import.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
os.environ.setdefault("MOTO_AMIS_PATH", str(Path(__file__).with_name("amis.json")))
os.environ.setdefault("MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS", "false")
os.environ.setdefault("INITIAL_NO_AUTH_ACTION_COUNT", "0")  # moto's IAM enforcement on
# Imported before moto: importing it makes moto's own import shorter (see its docstring).
from learnlab.sandbox import replay_fast

os.environ.pop("MOTO_ACCOUNT_ID", None)  # would force every request into one account

from moto.backends import get_backend
from moto.core import responses as moto_responses
from moto.core.base_backend import AccountSpecificBackend, BackendDict
from moto.core.exceptions import ServiceException
from moto.core.model_instances import reset_model_data
from moto.ec2.models import ec2_backends
from moto.ec2.models.iam_instance_profile import IamInstanceProfileAssociationBackend
from moto.ec2.models.subnets import Subnet
from moto.iam.access_control import IAMRequestBase
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.exceptions import NotFoundException
from moto.iam.models import AWSManagedPolicy, iam_backends
from moto.moto_api._internal import mock_random
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    create_backend_app,
)
from moto.s3.models import s3_backends
from moto.sts.models import sts_backends
from werkzeug.test import EnvironBuilder

from learnlab.lib.aws_errors import AwsError, protocol_for
from learnlab.lib.iam_policy import trust_allows
from learnlab.sandbox import authorization, aws_ids, instances, quotas, serving, strictness
from learnlab.sandbox.calls import RecordedCall

SECRET_HEADER = "HTTP_X_LEARNLAB_SECRET"  # noqa: S105 - a header name
ACCOUNT_HEADER = "HTTP_X_MOTO_ACCOUNT_ID"
SEED_HEADER = "HTTP_X_LEARNLAB_SEED"
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
PARTITION = "aws"
DEFAULT_REGION = "us-east-1"
LAB_USER_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
)
ACCOUNT_ID = re.compile(r"^\d{12}$")
# A rebuild holds the lock for at most this long at a time (and for one replayed call only
# while another request waits for it): other learners wait a slice at most, and a rebuild
# does not pay a thread switch per call when nobody waits.
REPLAY_SLICE_SECONDS = 0.02
REBUILDS_MAX = 50  # accounts in one PUT /_admin/rebuilds
SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"
HTTP_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    503: "Service Unavailable",
}
# A few AWS managed policies, offered in every sandbox (moto's full catalogue costs about 5 MiB
# per account). AdministratorAccess is there to show what "Action": "*" grants (EP14).
MANAGED_POLICY_NAMES = (
    "AmazonS3ReadOnlyAccess",
    "AmazonS3FullAccess",
    "AmazonEC2ReadOnlyAccess",
    "IAMReadOnlyAccess",
    "AmazonSSMManagedInstanceCore",
    "CloudWatchAgentServerPolicy",
    "AdministratorAccess",
)
MANAGED_POLICY_DATA = {
    name: data
    for name, data in json.loads(aws_managed_policies_data).items()
    if name in MANAGED_POLICY_NAMES
}


def _check_trust(self, role_arn: str) -> bool:
    """moto's trust check crashes on Service principals and ignores account principals."""
    role = self.backend.get_role_by_arn(role_arn)
    return trust_allows(
        role.assume_role_policy_document, principal_arn=self._access_key.arn, action=self._action
    )


_request_context = threading.local()
_check_signature = IAMRequestBase.check_signature


class OtherAccountRefused(ServiceException):
    """Raised inside moto when a forwarded call reaches for an account but its own."""

    code = "AccessDenied"
    message = "Your sandbox can only reach its own account."


def _own_account_only(account_id: str) -> None:
    """The second isolation layer: during a forwarded call moto may read and write only the
    account the request names (``x-moto-account-id``). Whatever moto parsed out of an ARN,
    a parameter or a body, another account's backend is never handed out."""
    own = getattr(_request_context, "account", None)
    # match, not fullmatch, on purpose: '<12 digits>\n' is refused too (the wider refusal).
    if own is not None and account_id != own and ACCOUNT_ID.match(str(account_id)):
        _request_context.refused = True
        raise OtherAccountRefused()


_account_backends = BackendDict.__getitem__
_region_backend = AccountSpecificBackend.__getitem__


def _account_backends_guarded(self, account_id):
    _own_account_only(account_id)
    return _account_backends(self, account_id)


def _region_backend_guarded(self, region_name):
    # Also reached by code that walks every account (``backends.items()``), not only lookups.
    _own_account_only(self.account_id)
    return _region_backend(self, region_name)


def _check_signature_unless_gated(self) -> None:
    """The AWS gate has verified the learner's signature already: moto need not redo it."""
    if not getattr(_request_context, "gated", False):
        _check_signature(self)


_replace_association = IamInstanceProfileAssociationBackend.replace_iam_instance_profile_association


def _replace_association_everywhere(self, association_id: str, *profile, **by_name):
    """moto leaves DescribeInstances showing the old profile after a replace: AWS does not."""
    association = _replace_association(self, association_id, *profile, **by_name)
    self.modify_instance_attribute(
        association.instance_id,
        "iam_instance_profile",
        {"Arn": association.iam_instance_profile.arn, "Id": association.iam_instance_profile.id},
    )
    return association


@functools.cache
def _method_names(clazz) -> frozenset[str]:
    """moto lists a response class's methods (``inspect.getmembers``) on every call to find
    the action's: about 1 ms a call. Classes are patched at import, before any call."""
    return frozenset(_method_names_from_class(clazz))


_method_names_from_class = moto_responses.method_names_from_class
_serialized = moto_responses.BaseResponse.serialized


def _serialized_unless_replayed(self, action_result):
    """A replayed call's answer is read for its status only: moto need not render the rest
    (a third of a replayed call's time). An error still is, as moto renders it."""
    if getattr(_request_context, "replaying", False) and not isinstance(
        action_result.result, Exception
    ):
        return 200, dict(self.response_headers), ""
    return _serialized(self, action_result)


class BucketNamespaces(MutableMapping):
    """moto's one bucket namespace (``s3_backends.bucket_accounts``, bucket name: (partition,
    account)) made one per account: during a forwarded call moto sees its own account's names
    only, so creating, finding and deleting a bucket resolve among the sandbox's own buckets.

    A documented lab deviation from AWS's global namespace: with one, a bucket name freed when
    a sandbox is dropped (reaped, or not yet rebuilt after a restart) could be taken by another
    learner, and the owner's replay of CreateBucket and PutObject would then fail for good;
    and one learner could detect another's bucket names. Two sandboxes may each own a bucket
    of the same name; each sees only its own. Outside a forwarded call no name is visible."""

    def __init__(self):
        self.accounts: dict[str, dict[str, tuple[str, str]]] = {}

    def _names(self) -> dict[str, tuple[str, str]]:
        return self.accounts.get(getattr(_request_context, "account", None), {})

    def __getitem__(self, name):
        return self._names()[name]

    def __setitem__(self, name, owner):  # moto's FakeBucket registers (partition, account)
        self.accounts.setdefault(owner[1], {})[name] = owner

    def __delitem__(self, name):
        del self._names()[name]

    def __iter__(self):
        return iter(self._names())

    def __len__(self):
        return len(self._names())

    def drop(self, account_id: str) -> None:
        self.accounts.pop(account_id, None)


IAMRequestBase._check_role_trust_relationship = _check_trust
BackendDict.__getitem__ = _account_backends_guarded
AccountSpecificBackend.__getitem__ = _region_backend_guarded
IAMRequestBase.check_signature = _check_signature_unless_gated
moto_responses.method_names_from_class = _method_names
moto_responses.BaseResponse.serialized = _serialized_unless_replayed
IamInstanceProfileAssociationBackend.replace_iam_instance_profile_association = (
    _replace_association_everywhere
)
quotas.install()  # per-sandbox quotas at AWS's limits (learnlab/sandbox/quotas.py)
aws_ids.install()  # ids shaped as AWS shapes them (learnlab/sandbox/aws_ids.py)
authorization.install()  # denials worded as AWS words them, iam:PassRole
strictness.install()  # AWS's validation where moto is lax (learnlab/sandbox/strictness.py)
replay_fast.install()  # moto's work whose result nobody reads, skipped (replay_fast.py)
s3_backends.bucket_accounts = BucketNamespaces()


class SandboxRebuilding(ServiceException):
    code = "ServiceUnavailable"
    message = "Your sandbox is being rebuilt after a restart. Retry in a few seconds."


def _locks_itself(handler):
    """An internal endpoint that takes the lock itself, in steps (see ``admin``)."""
    handler.locks_itself = True
    return handler


class AdminError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class SandboxServer:
    """WSGI app: moto behind one lock, plus the internal endpoints."""

    def __init__(self, secret: str):
        if not secret:
            raise ValueError("the sandbox server needs a shared secret")
        self.secret = secret.encode()
        self.boot_id = uuid.uuid4().hex
        self.moto = DomainDispatcherApplication(create_backend_app)
        # Which backend serves a host is fixed (moto's URL patterns), but moto works it out
        # again on every request, listing its package folder on disk (about 1 ms a call).
        self.moto.get_backend_for_host = functools.lru_cache(maxsize=512)(
            self.moto.get_backend_for_host
        )
        # moto is not thread safe, and one process is GIL-bound anyway: serialise requests.
        self.lock = threading.RLock()
        self._waiting = 0  # requests waiting for the lock: a rebuild yields to them at once
        self._waiting_lock = threading.Lock()
        self.rebuilding: set[str] = set()  # accounts whose recorded calls are being replayed
        self.routes = [
            ("GET", re.compile(r"^/_admin/health$"), self.health),
            ("PUT", re.compile(r"^/_admin/accounts/(\d{12})$"), self.account_bootstrap),
            ("PUT", re.compile(r"^/_admin/rebuilds$"), self.rebuilds),
            ("DELETE", re.compile(r"^/_admin/accounts/(\d{12})$"), self.account_drop),
            (
                "POST",
                re.compile(r"^/_admin/accounts/(\d{12})/access-keys$"),
                self.access_key_rotate,
            ),
            ("GET", re.compile(r"^/_admin/accounts/(\d{12})/roles/([^/]+)$"), self.role_get),
            (
                "GET",
                re.compile(r"^/_admin/accounts/(\d{12})/instance-profiles/([^/]+)$"),
                self.instance_profile_get,
            ),
            (
                "POST",
                re.compile(r"^/_admin/accounts/(\d{12})/role-credentials$"),
                self.role_credentials_mint,
            ),
            (
                "DELETE",
                re.compile(r"^/_admin/accounts/(\d{12})/role-credentials/(ASIA[A-Z0-9]{16})$"),
                self.role_credentials_forget,
            ),
            (
                "GET",
                re.compile(r"^/_admin/accounts/(\d{12})/instances/(i-[0-9a-f]+)$"),
                self.instance_get,
            ),
            ("GET", re.compile(r"^/_admin/attached-instances$"), self.attached_instances),
        ]

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.lstrip("/").startswith("_admin"):
            if ACCOUNT_HEADER in environ:
                # Only AWS calls the gate forwards name an account; LearnLab's own internal
                # calls never do. A forwarded request must never reach an internal endpoint.
                return _json(start_response, 403, {"code": "AccessDenied", "message": "Not here."})
            return self.admin(environ, start_response)
        if path.startswith("/moto-api"):
            return _json(start_response, 403, {"code": "AccessDenied", "message": "Not here."})
        if not ACCOUNT_ID.fullmatch(environ.get(ACCOUNT_HEADER, "")):
            # Without the header moto falls back to a shared default account: never allow that.
            return _json(
                start_response,
                403,
                {"code": "AccessDenied", "message": "Requests must name their sandbox account."},
            )
        # Requests the gate forwards carry the shared secret; moto still checks the key, the
        # session token and the caller's policies, but not the signature a second time.
        gated = hmac.compare_digest(environ.get(SECRET_HEADER, "").encode(), self.secret)
        with self._locked():
            if environ[ACCOUNT_HEADER] in self.rebuilding:
                return _aws_error(start_response, environ, SandboxRebuilding(), 503)
            return self._moto_call(environ, start_response, gated=gated)

    def _moto_call(self, environ, start_response, *, gated: bool) -> list[bytes]:
        """One AWS request into moto; the caller holds the lock.

        With a seed, whatever moto creates on first use (a service's app, the account's
        backend for this region) is created first: only the call's own ids come from the seed.
        """
        app = self.moto.get_application(environ)
        seed = environ.get(SEED_HEADER, "")
        if gated and seed.isdigit():
            _prepare_backend(environ[ACCOUNT_HEADER], environ.get("HTTP_AUTHORIZATION", ""))
            mock_random.seed(int(seed))
        _request_context.gated = gated
        _request_context.account, _request_context.refused = environ[ACCOUNT_HEADER], False
        authorization.take_trace()  # none left over from a request that failed part-way
        started, result = [], ()
        try:
            result = app(environ, lambda status, headers, *_: started.append((status, headers)))
            body = b"".join(result)
        finally:
            _request_context.gated = False
            _request_context.account = None
            mock_random.seed()  # back to the OS's entropy: keys minted later are not guessable
            if hasattr(result, "close"):
                result.close()
        if _request_context.refused:
            # However moto handled the refusal (rendered it, swallowed it, failed with a 500),
            # the caller gets AWS's AccessDenied in its own protocol.
            return _aws_error(start_response, environ, OtherAccountRefused())
        status, headers, *rest = started[0]
        trace = authorization.take_trace()
        if gated and trace and status.startswith("403"):
            # The denial's trace, for the gate to keep and strip (issue 19: "Explain").
            headers = [*headers, (authorization.TRACE_HEADER, trace)]
        start_response(status, headers, *rest)
        return [body]

    def admin(self, environ, start_response):
        given = environ.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.secret):
            return _json(start_response, 403, {"code": "Forbidden", "message": "Bad secret."})
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        for route_method, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                try:
                    body, args = _read_json(environ), [unquote(group) for group in match.groups()]
                    if getattr(handler, "locks_itself", False):
                        status, payload = handler(*args, **body)
                    else:
                        with self._locked():
                            self._refuse_while_rebuilding(args)
                            status, payload = handler(*args, **body)
                except AdminError as error:
                    status, payload = error.status, {"code": error.code, "message": error.message}
                except TypeError as error:
                    status, payload = 400, {"code": "BadRequest", "message": str(error)}
                except Exception as error:  # an answer, never a dropped connection
                    status, payload = 500, {"code": "InternalError", "message": repr(error)}
                return _json(start_response, status, payload)
        return _json(start_response, 404, {"code": "NotFound", "message": path})

    @contextlib.contextmanager
    def _locked(self):
        """The lock, for a request that a rebuild in progress should let in at once."""
        if self.lock.acquire(blocking=False):
            try:
                yield
            finally:
                self.lock.release()
            return
        with self._waiting_lock:
            self._waiting += 1
        try:
            self.lock.acquire()
        finally:
            with self._waiting_lock:
                self._waiting -= 1
        try:
            yield
        finally:
            self.lock.release()

    def _refuse_while_rebuilding(self, args) -> None:
        """Calls about an account being rebuilt wait for it: a 503 that callers retry."""
        if args and args[0] in self.rebuilding:
            raise AdminError(503, "ServiceUnavailable", f"Account {args[0]} is being rebuilt.")

    # Internal endpoints. Each returns (status, payload) and runs under the lock, but for those
    # marked @_locks_itself.

    def health(self):
        accounts = {a for a in iam_backends if ACCOUNT_ID.fullmatch(a)}
        return 200, {
            "boot_id": self.boot_id,
            "accounts": len(accounts),
            "rss_kib": _current_rss_kib(),
        }

    @_locks_itself
    def account_bootstrap(
        self,
        account_id,
        *,
        user_name,
        access_key_id=None,
        secret_access_key=None,
        replay=(),
        role_sessions=(),
        fresh=False,
    ):
        """Create (or restore) the sandbox's lab user: full rights inside this account only.

        Passing the keys back in restores a dropped or lost sandbox with the keys its learner
        already has, so a learner's terminal keeps working after a reaper pass or a restart.
        ``replay`` (the calls that built the sandbox, in order) and ``role_sessions`` (live
        credentials of its instances) rebuild the rest; both are ignored when the account is
        here already, so two rebuilds of one sandbox never replay twice; but with ``fresh``
        (a rewind) whatever the account holds is dropped first, in the same turn of the lock.
        A replayed call that fails is one failed call: the rest comes back all the same.
        """
        calls = [RecordedCall.from_json(document) for document in replay]  # TypeError: 400
        with self._locked():
            self._refuse_while_rebuilding([account_id])
            if fresh:
                self.account_drop(account_id)
            restoring, user, key = _lab_user(
                account_id, user_name, access_key_id, secret_access_key
            )
            if restoring:
                self.rebuilding.add(account_id)
        replayed = failed = 0
        try:
            if restoring:
                failed = self._replay_log(account_id, key.access_key_id, calls)
                replayed = len(calls)
            for session in role_sessions if restoring else ():
                with self._locked(), contextlib.suppress(Exception):  # one failure, no more
                    self._restore_role_session(account_id, **session)
        finally:
            with self._locked():
                self.rebuilding.discard(account_id)
        return 200, {
            "user_arn": user.arn,
            "access_key_id": key.access_key_id,
            "secret_access_key": key.secret_access_key,
            "boot_id": self.boot_id,
            "replayed": replayed,
            "replay_failed": failed,
        }

    def _replay_log(self, account_id, access_key_id, calls: list[RecordedCall]) -> int:
        """Replay the calls in order, taking the lock in slices of REPLAY_SLICE_SECONDS and
        handing it over after one call whenever another request waits, so a long log never
        stalls the other learners; returns how many failed."""
        failed, pending = 0, iter(calls)
        call = next(pending, None)
        while call is not None:
            with self._locked():
                ends = time.monotonic() + REPLAY_SLICE_SECONDS
                while call is not None:
                    failed += not self._replay(account_id, access_key_id, call)
                    call = next(pending, None)
                    if self._waiting or time.monotonic() >= ends:
                        break
            if call is not None:
                time.sleep(0)  # hand the lock to whoever waits for it
        return failed

    @_locks_itself
    def rebuilds(self, *, accounts):
        """Rebuild several accounts, one after the other, as ``account_bootstrap`` does each:
        one request for many sandboxes after a restart. An account another request is
        rebuilding is ``busy`` (that request brings it back); one that cannot be rebuilt is
        ``failed``, with why, and the others go on."""
        if not isinstance(accounts, list) or len(accounts) > REBUILDS_MAX:
            raise AdminError(400, "BadRequest", f"accounts: a list of at most {REBUILDS_MAX}.")
        rebuilt, busy, failed = {}, [], {}
        for account in accounts:
            if not isinstance(account, dict) or not ACCOUNT_ID.fullmatch(
                str(account.get("account_id", ""))
            ):
                raise AdminError(400, "BadRequest", "Each account needs a 12-digit account_id.")
        for account in accounts:
            account_id = account["account_id"]
            fields = {name: value for name, value in account.items() if name != "account_id"}
            try:
                _status, rebuilt[account_id] = self.account_bootstrap(account_id, **fields)
            except AdminError as error:
                if error.status != 503:
                    failed[account_id] = error.message
                    continue
                busy.append(account_id)
            except (TypeError, ValueError) as error:
                failed[account_id] = str(error)
            except Exception as error:  # one account's failure, not the batch's
                failed[account_id] = repr(error)
        return 200, {"rebuilt": rebuilt, "busy": busy, "failed": failed, "boot_id": self.boot_id}

    def _replay(self, account_id, access_key_id, call: RecordedCall):
        """Make a recorded call again, as the lab user, with the seed it was first made with,
        signed for its scope (``region/service``), which moto routes by."""
        today = time.strftime("%Y%m%d", time.gmtime())
        headers = {
            **call.headers,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={access_key_id}/{today}/{call.scope}/"
            "aws4_request, "
            f"SignedHeaders=host, Signature={'0' * 64}",
            "X-Moto-Account-Id": account_id,
            "X-LearnLab-Seed": str(call.seed),
        }
        environ = EnvironBuilder(
            path=call.path, method=call.method, headers=headers, data=call.body
        ).get_environ()
        status = []
        _request_context.replaying = True
        try:
            self._moto_call(environ, lambda line, *_: status.append(int(line[:3])), gated=True)
        except Exception:  # moto raised instead of answering: that call fails, no more
            return False
        finally:
            _request_context.replaying = False
        return bool(status) and status[0] < 400

    def _restore_role_session(
        self, account_id, *, role_name, session_name, access_key_id, secret_access_key, token
    ):
        """Live instance credentials again, with the ids the metadata service hands out."""
        iam = iam_backends[account_id][PARTITION]
        if role_name not in {role.name for role in iam.roles.values()}:
            return  # the replay did not bring the role back: nothing to restore into
        if access_key_id in iam.access_keys:
            return  # restored already
        _status, minted = self.role_credentials_mint(
            account_id, role_name=role_name, session_name=session_name, duration_seconds=43200
        )
        sts = sts_backends[account_id][PARTITION]
        assumed = next(r for r in sts.assumed_roles if r.access_key_id == minted["AccessKeyId"])
        temporary = iam.access_keys.pop(assumed.access_key_id)
        assumed.access_key_id, assumed.secret_access_key = access_key_id, secret_access_key
        assumed.session_token = token
        temporary.access_key_id, temporary.secret_access_key = access_key_id, secret_access_key
        iam.access_keys[access_key_id] = temporary

    def account_drop(self, account_id):
        """Forget the account everywhere and release its memory (see reference/moto.md §1.4)."""
        s3_backends.bucket_accounts.drop(account_id)
        dropped = 0
        for backend_dict in list(BackendDict._instances):
            dropped += backend_dict.pop(account_id, None) is not None
        reset_model_data()
        AccountSpecificBackend._generate_regions.cache_clear()
        Subnet._base_avail_ip_iterator.cache_clear()
        gc.collect()
        return 200, {"dropped_backends": dropped}

    def access_key_rotate(self, account_id, *, user_name, retire):
        """A new key for the lab user, and ``retire`` (its old key) deleted: from now on moto
        accepts only the new one."""
        iam = iam_backends[account_id][PARTITION] if account_id in iam_backends else None
        if iam is None or user_name not in iam.users:
            raise AdminError(404, "NoSuchEntity", f"No user {user_name} in {account_id}")
        if retire in iam.access_keys:
            iam.delete_access_key(retire, user_name)
        key = _lab_access_key(iam, user_name)
        return 200, {"access_key_id": key.access_key_id, "secret_access_key": key.secret_access_key}

    def role_get(self, account_id, role_name):
        role = _role(account_id, role_name)
        return 200, {
            "arn": role.arn,
            "trust_policy": role.assume_role_policy_document,
        }

    def instance_profile_get(self, account_id, profile_name):
        iam = iam_backends[account_id][PARTITION]
        profile = next((p for p in iam.instance_profiles.values() if p.name == profile_name), None)
        if profile is None:
            raise AdminError(404, "NoSuchEntity", f"Instance profile {profile_name} not found")
        return 200, {"arn": profile.arn, "roles": [role.name for role in profile.roles]}

    def role_credentials_mint(
        self, account_id, *, role_name, session_name, duration_seconds, region=DEFAULT_REGION
    ):
        """Issue temporary credentials for a role, as STS does for EC2, bypassing HTTP auth."""
        role = _role(account_id, role_name)
        assumed = sts_backends[account_id][PARTITION].assume_role(
            region_name=region,
            role_session_name=session_name,
            role_arn=role.arn,
            policy=None,
            duration=int(duration_seconds),
            external_id=None,
        )
        return 200, {
            "AccessKeyId": assumed.access_key_id,
            "SecretAccessKey": assumed.secret_access_key,
            "Token": assumed.session_token,
            "Expiration": assumed.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "AssumedRoleArn": assumed.arn,
        }

    def instance_get(self, account_id, instance_id, region=DEFAULT_REGION):
        """An instance as its metadata service sees it."""
        ec2 = ec2_backends[account_id][region]
        instance = next((i for i in ec2.all_instances() if i.id == instance_id), None)
        if instance is None:
            raise AdminError(404, "InvalidInstanceID.NotFound", f"No instance {instance_id}")
        return 200, instances.instance_facts(account_id, region, instance)

    def attached_instances(self):
        """Every running instance whose profile holds a role EC2 may assume: what the
        credential ticker keeps supplied."""
        attached = []
        for account_id in [a for a in ec2_backends if ACCOUNT_ID.fullmatch(a)]:
            for region, ec2 in list(ec2_backends[account_id].items()):
                for instance_id, association in ec2.iam_instance_profile_associations.items():
                    if association.instance.state != "running":
                        continue
                    profile = instances.profile_state(account_id, association)
                    role = profile["role"]
                    if role and role["trusts_ec2"]:
                        attached.append([account_id, region, instance_id, role["name"]])
        return 200, {"instances": attached}

    def role_credentials_forget(self, account_id, access_key_id):
        sts = sts_backends[account_id][PARTITION]
        before = len(sts.assumed_roles)
        sts.assumed_roles = [r for r in sts.assumed_roles if r.access_key_id != access_key_id]
        iam_backends[account_id][PARTITION].access_keys.pop(access_key_id, None)
        return 200, {"forgotten": before - len(sts.assumed_roles)}


def _lab_user(account_id, user_name, access_key_id, secret_access_key):
    """The account's lab user and key, created if the account is new (``restoring``)."""
    iam = iam_backends[account_id][PARTITION]
    restoring = user_name not in iam.users
    if restoring:
        mock_random.seed(int(account_id))  # the same default VPC and user ids every time
        iam.create_user(region_name=DEFAULT_REGION, user_name=user_name)
        iam.put_user_policy(user_name, "LabAdministratorAccess", LAB_USER_POLICY)
        # The first EC2 call in a new account builds its default VPC: do it now, not on the
        # learner's first command.
        ec2_backends[account_id][DEFAULT_REGION].describe_vpcs()
        mock_random.seed()  # keys come from the OS's entropy, never from the account id
    _offer_managed_policies(iam, account_id)
    user = iam.users[user_name]
    key = next((k for k in user.access_keys if k.access_key_id == access_key_id), None)
    if key is None:
        key = _lab_access_key(iam, user_name, access_key_id, secret_access_key)
    return restoring, user, key


def _lab_access_key(iam, user_name, access_key_id=None, secret_access_key=None):
    """A lab user's key: the given one restored, or a new one whose secret comes from the OS's
    entropy (moto's own generator is seedable, so its secrets could be guessed)."""
    key = iam.create_access_key(user_name)
    del iam.access_keys[key.access_key_id]
    if access_key_id and secret_access_key:
        key.access_key_id, key.secret_access_key = access_key_id, secret_access_key
    else:
        key.secret_access_key = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(40))
    iam.access_keys[key.access_key_id] = key
    return key


def _prepare_backend(account_id: str, authorization: str) -> None:
    """Create the account's backend for the call's service and region, if it is new."""
    scope = CREDENTIAL_SCOPE.search(authorization)
    if scope is None:
        return
    region, service = scope.groups()
    try:
        backends = get_backend(service)[account_id]
    except (KeyError, ValueError, ImportError):
        return  # a service moto lacks: it answers for itself
    backends[region if region in backends.regions else PARTITION]


def _role(account_id, role_name):
    try:
        return iam_backends[account_id][PARTITION].get_role(role_name)
    except NotFoundException as error:
        raise AdminError(404, "NoSuchEntity", f"Role {role_name} not found") from error


def _read_json(environ) -> dict:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if not length:
        return {}
    try:
        body = json.loads(environ["wsgi.input"].read(length))
    except ValueError as error:
        raise AdminError(400, "BadRequest", "The body is not JSON.") from error
    if not isinstance(body, dict):
        raise AdminError(400, "BadRequest", "The body must be a JSON object.")
    return body


def _offer_managed_policies(iam, account_id: str) -> None:
    """Add MANAGED_POLICY_NAMES to the account as AWS managed policies (arn:aws:iam::aws:...)."""
    for name, data in MANAGED_POLICY_DATA.items():
        policy = AWSManagedPolicy.from_data(name, account_id, DEFAULT_REGION, data)
        if policy.arn not in iam.managed_policies:
            iam.aws_managed_policies.append(policy)
            iam.managed_policies[policy.arn] = policy


def _aws_error(start_response, environ, error: ServiceException, status: int = 403):
    """An AWS error in the protocol of the request's service (the gate's own formatter)."""
    scope = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    headers = (
        {"x-amz-target": environ["HTTP_X_AMZ_TARGET"]} if "HTTP_X_AMZ_TARGET" in environ else {}
    )
    rendered = AwsError(error.code, error.message, status).render(
        protocol_for(scope[2] if scope else "s3", headers)
    )
    start_response(
        f"{status} {HTTP_REASONS.get(status, '')}",
        [*rendered.headers.items(), ("Content-Length", str(len(rendered.body)))],
    )
    return [rendered.body]


def _json(start_response, status: int, payload: dict):
    body = json.dumps(payload).encode()
    start_response(
        f"{status} {HTTP_REASONS.get(status, 'Internal Server Error')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _current_rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _no_outbound(*_args, **_kwargs):
    raise ConnectionRefusedError(
        errno.ECONNREFUSED, "the sandbox server makes no outbound connections"
    )


def refuse_outbound_network() -> None:
    """From now on this process can open no connection and resolve no name: it only accepts.
    moto would otherwise POST to any URL a learner names (SNS HTTP subscriptions, EventBridge
    API destinations...), an SSRF that also held the server's lock for as long as the far end
    cared to wait. Every such attempt now fails at once, inside moto's call."""
    socket.socket.connect = socket.socket.connect_ex = _no_outbound
    socket.create_connection = socket.getaddrinfo = _no_outbound


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args(argv)
    secret = os.environ.get("LEARNLAB_SANDBOX_SECRET", "")
    if not secret:
        sys.exit("LEARNLAB_SANDBOX_SECRET must be set: the internal endpoints need it.")
    serving.serve(SandboxServer(secret), args.host, args.port, after_bind=refuse_outbound_network)


if __name__ == "__main__":
    main()

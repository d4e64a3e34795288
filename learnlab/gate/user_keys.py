"""Access keys the learner makes for their own IAM users, accepted by the gate.

AWS accepts a key the moment ``CreateAccessKey`` returns it; the gate knows only the keys it
keeps (``AccessKey``), so it keeps each one an IAM ``CreateAccessKey`` answer carries, in the
sandbox of the key that asked (the answer's secret is all it can learn it from). It forgets the
key at ``DeleteAccessKey`` and at ``UpdateAccessKey`` to ``Inactive`` (AWS refuses an inactive
key; the gate cannot learn the secret again, so reactivating means making a new key). After a
sandbox reset the sandbox server no longer knows the key either, and refuses it.
"""

import logging
import re

from django.db import OperationalError

from learnlab.sandbox.models import AccessKey

log = logging.getLogger(__name__)
TRACKED = ("CreateAccessKey", "DeleteAccessKey", "UpdateAccessKey")
_FIELD = re.compile(rb"<(UserName|AccessKeyId|SecretAccessKey)>([^<]{1,256})</\1>")
USER_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
KEY_ID = re.compile(r"^[A-Z0-9]{16,128}$")


def user_keys_follow(*, service: str, params: dict, body: bytes, key: AccessKey) -> None:
    """After a successful IAM call: keep, or forget, the user key it made or changed. A busy
    database must not turn the call into a failure (the key is then not accepted: make
    another)."""
    if service != "iam" or params.get("Action", "") not in TRACKED:
        return
    try:
        _follow(params, body, key)
    except OperationalError:
        log.warning("user access key not followed", exc_info=True)


def _follow(params: dict, body: bytes, key: AccessKey) -> None:
    action = params.get("Action", "")
    sandbox = key.sandbox
    if action == "CreateAccessKey":
        fields = {name.decode(): value.decode() for name, value in _FIELD.findall(body)}
        user, key_id = fields.get("UserName", ""), fields.get("AccessKeyId", "")
        if not (
            USER_NAME.fullmatch(user) and KEY_ID.fullmatch(key_id) and fields.get("SecretAccessKey")
        ):
            return
        AccessKey.objects.get_or_create(
            access_key_id=key_id,
            defaults={
                "sandbox": sandbox,
                "secret_access_key": fields["SecretAccessKey"],
                "principal_arn": f"arn:aws:iam::{sandbox.account_id}:user/{user}",
                "kind": AccessKey.Kind.IAM_USER,
            },
        )
        return
    if action == "UpdateAccessKey" and params.get("Status") != "Inactive":
        return
    AccessKey.objects.filter(
        sandbox=sandbox, kind=AccessKey.Kind.IAM_USER, access_key_id=params.get("AccessKeyId", "")
    ).delete()

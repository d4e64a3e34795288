"""The gate's key lookup (one query compiled once per thread, ``services.key_lookup``) reads the
same key and sandbox the ORM does, and reads them fresh on every call: nothing about a key or its
sandbox is kept between calls (issue 16, the gate's cost)."""

import threading

import pytest
from botocore.exceptions import ClientError
from django.db import connection as db
from django.db import connections as db_connections
from django.test.utils import CaptureQueriesContext

from learnlab.gate.services import key_lookup
from learnlab.sandbox.models import AccessKey
from tests.helpers import gate_client


def fields(instance) -> dict:
    return {name: value for name, value in vars(instance).items() if not name.startswith("_")}


def test_the_lookup_reads_what_the_orm_reads(sandbox):
    key = sandbox.lab_key()
    with CaptureQueriesContext(db) as queries:
        found = key_lookup(key.access_key_id)
    assert len(queries) == 1
    orm = AccessKey.objects.select_related("sandbox").get(access_key_id=key.access_key_id)
    assert fields(found) == fields(orm)
    assert fields(found.sandbox) == fields(orm.sandbox)
    assert found.sandbox.account_id == sandbox.account_id and found.sandbox.pk == sandbox.pk
    found.sandbox.save(update_fields=["status"])  # a real model instance, saved as one
    assert key_lookup("AKIA" + "Z" * 16) is None


@pytest.mark.django_db(transaction=True)
def test_the_lookup_works_on_every_thread(make_sandbox):
    sandbox = make_sandbox()
    key = sandbox.lab_key()
    found = []

    def look():  # its own database connection, its own compiled query
        try:
            found.append(key_lookup(key.access_key_id))
        finally:
            db_connections.close_all()

    thread = threading.Thread(target=look)
    thread.start()
    thread.join()
    assert found[0] is not None and found[0].sandbox.account_id == sandbox.account_id


@pytest.mark.django_db(transaction=True)
def test_a_revoked_or_rotated_key_is_seen_at_the_next_call(gate_url, make_sandbox):
    sandbox = make_sandbox()
    sts = gate_client(gate_url, sandbox, "sts")
    assert sts.get_caller_identity()["Account"] == sandbox.account_id
    key = sandbox.lab_key()
    AccessKey.objects.filter(pk=key.pk).update(secret_access_key="x" * 40)  # rotated away
    with pytest.raises(ClientError) as refused:
        sts.get_caller_identity()
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    AccessKey.objects.filter(pk=key.pk).delete()  # revoked
    with pytest.raises(ClientError) as refused:
        sts.get_caller_identity()
    assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"

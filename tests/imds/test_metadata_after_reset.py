"""After a reset, an instance's metadata URL and the role credentials it served are worth
nothing: whoever noted them (the second review round's planted cookie) reaches no instance and
no sandbox. Sign-in retires them with ``instance_access_revoke`` (tests/accounts); a reset drops
the instances and their credentials, and new instances get new ids."""

import json

import pytest
from botocore.exceptions import ClientError
from django.test import Client

from learnlab.gate.client import aws_client
from learnlab.imds.services import endpoint_for
from learnlab.sandbox.models import AccessKey
from learnlab.sandbox.services import sandbox_reset

pytestmark = pytest.mark.django_db(transaction=True)

CREDENTIALS = "latest/meta-data/iam/security-credentials/s3-reader"


def _error_code(sandbox, stolen: dict) -> str:
    key = AccessKey(
        access_key_id=stolen["AccessKeyId"],
        secret_access_key=stolen["SecretAccessKey"],
        session_token=stolen["Token"],
    )
    with pytest.raises(ClientError) as refused:
        aws_client("sts", sandbox=sandbox, key=key).get_caller_identity()
    return refused.value.response["Error"]["Code"]


def test_after_a_reset_a_noted_metadata_url_and_its_credentials_reach_nothing(lab):
    sandbox, instance_id = lab["sandbox"], lab["instance_id"]
    noted = f"/imds/{endpoint_for(sandbox=sandbox, instance_id=instance_id).token}/"
    answer = Client().get(noted + CREDENTIALS)
    assert answer.status_code == 200
    stolen = json.loads(answer.content)

    sandbox_reset(sandbox=sandbox)

    after = Client().get(noted + CREDENTIALS)
    assert after.status_code == 503
    assert "AccessKeyId" not in after.text
    assert _error_code(sandbox, stolen) == "InvalidClientTokenId"
    launched = aws_client("ec2", sandbox=sandbox).describe_instances()["Reservations"]
    assert launched == []  # nothing the old URL could come to serve again

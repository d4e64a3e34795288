"""An IMDSv2 token names nothing: the review decoded the instance's secret metadata URL token
out of one (it was a signed, readable base64 document)."""

import base64
import binascii
import contextlib
import zlib

import pytest

from learnlab.imds.metadata import token_issue, token_valid
from learnlab.imds.models import MetadataEndpoint
from learnlab.imds.services import endpoint_for

pytestmark = pytest.mark.django_db(transaction=True)


def _decodings(token: str) -> list[bytes]:
    """Every reading a curious learner would try: the token, and each part of it base64-decoded
    (and inflated, when it is compressed)."""
    found = [token.encode()]
    for part in token.replace(".", ":").split(":"):
        padded = part + "=" * (-len(part) % 4)
        for decode in (base64.urlsafe_b64decode, base64.b64decode):
            try:
                raw = decode(padded)
            except (binascii.Error, ValueError):
                continue
            found.append(raw)
            with contextlib.suppress(zlib.error):
                found.append(zlib.decompress(raw))
    return found


def test_the_token_decodes_to_nothing_containing_the_metadata_url_token(curl, lab):
    endpoint = MetadataEndpoint.objects.get(sandbox=lab["sandbox"])
    status, token, _ = curl(
        "/latest/api/token", "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 300"
    )
    assert status == 200
    for reading in _decodings(token):
        assert endpoint.token.encode() not in reading
    status, _, _ = curl("/latest/meta-data/instance-id", "-H", f"X-aws-ec2-metadata-token: {token}")
    assert status == 200  # and it still works


def test_a_token_is_tied_to_its_instance_and_expires(lab):
    endpoint = endpoint_for(sandbox=lab["sandbox"], instance_id=lab["instance_id"])
    other = MetadataEndpoint(sandbox=lab["sandbox"], instance_id="i-other", token="x" * 32)
    token = token_issue(endpoint, 60)
    assert token_valid(endpoint, token) and not token_valid(other, token)
    assert not token_valid(endpoint, token_issue(endpoint, -1))
    assert not token_valid(endpoint, "not base64 at all!")
    assert not token_valid(endpoint, token[:-4] + "AAAA")

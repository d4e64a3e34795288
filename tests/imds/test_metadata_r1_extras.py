"""Beside R1's metadata regression tests (tests/security_r1/test_r1_metadata.py): the token
TTL header read as AWS reads it, and the identity key held in memory when the data folder
cannot keep it.

AWS pages followed: EC2 User Guide "Use the Instance Metadata Service to access instance
metadata" (the TTL is a whole number of seconds, 1 to 21600; else 400 Missing or Invalid
Parameters); "Verify the instance identity document" (the signature verifies against the
published certificate: here LearnLab's, metadata_identity.py)."""

import base64
import logging

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from learnlab.imds import metadata_identity
from tests.security_r1.test_r1_metadata import imds  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)

NOT_PLAIN_DIGITS = ["+60", "-1", "6e1", "60.0", "0x3c", "1 000", "60s", "9" * 5000, "021601"]


def test_a_token_ttl_is_plain_ascii_digits_from_1_to_21600(imds):  # noqa: F811
    get = imds()

    def put(ttl: str) -> int:
        header = f"X-aws-ec2-metadata-token-ttl-seconds: {ttl}"
        return get("/latest/api/token", "-X", "PUT", "-H", header)[0]

    for ttl in NOT_PLAIN_DIGITS:
        assert put(ttl) == 400, ttl
    assert [put(ttl) for ttl in ("1", "60", "21600")] == [200] * 3


def test_an_unwritable_data_folder_signs_with_a_key_held_in_memory(
    settings, tmp_path, monkeypatch, caplog
):
    """The signature still verifies against the certificate the server hands out, the key
    stays the same for the process, and the log says why and what to do."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.DATA_DIR = blocker / "data"
    monkeypatch.setattr(metadata_identity, "_signer", None)
    document = b'{"instanceId": "i-0123456789abcdef0"}'
    with caplog.at_level(logging.WARNING, logger="learnlab.imds.metadata_identity"):
        signature = base64.b64decode(metadata_identity.signature(document))
    assert "make the data folder writable" in caplog.text
    certificate = x509.load_pem_x509_certificate(metadata_identity.certificate_pem().encode())
    certificate.public_key().verify(signature, document, padding.PKCS1v15(), hashes.SHA256())
    assert base64.b64decode(metadata_identity.signature(document)) == signature
    assert not blocker.is_dir()

"""The instance's identity: the signatures beside its identity document, and the identity
credentials AWS reserves for its own use.

**Signatures.** AWS signs each instance identity document with its Region's key and publishes
the matching public certificates in "Verify the instance identity document" (ec2-ug
``verify-pkcs7.md``, ``verify-signature.md``, ``verify-rsa2048.md``). LearnLab cannot sign as
AWS, so it signs with its own RSA-2048 key, made once per server into the data folder
(``imds_identity.pem``, owner only) beside a self-signed certificate,
"LearnLab instance identity (not AWS)". If the data folder cannot hold the file (read-only, or
not a folder), the server logs a warning and signs with a key made in memory for the life of
the process, rather than fail the learner's request:

- ``signature``: base64 of the RSA (PKCS #1 v1.5) SHA-256 signature of the document's bytes;
- ``pkcs7`` and ``rsa2048``: a PKCS #7 signed-data structure over the document (SHA-256; AWS's
  ``pkcs7`` is SHA-1 with DSA), base64 in 64-character lines without the PEM armour, as AWS
  serves it. Unlike AWS's, it carries LearnLab's certificate, so a learner can verify it without
  downloading one::

      curl -s $IMDS/latest/dynamic/instance-identity/document > document
      (echo "-----BEGIN PKCS7-----"; curl -s $IMDS/latest/dynamic/instance-identity/rsa2048;
       echo; echo "-----END PKCS7-----") > rsa2048
      openssl pkcs7 -in rsa2048 -print_certs > certificate       # LearnLab's, not AWS's
      openssl smime -verify -in rsa2048 -inform PEM -content document -certfile certificate \\
          -noverify

  and ``signature`` with ``openssl x509 -pubkey -noout -in certificate > key`` then
  ``openssl dgst -sha256 -verify key -signature <(base64 -d signature) document``.

**Identity credentials.** ``identity-credentials/ec2/security-credentials/ec2-instance`` is
"reserved for internal use" by AWS: credentials that identify the instance to EC2's own
infrastructure. The lab serves that document in AWS's credentials format, but with keys that
exist nowhere: the gate answers any request signed with them with AWS's
``InvalidClientTokenId``, so they can do nothing a learner could not.
"""

import base64
import hashlib
import logging
import os
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7 as pkcs7_format
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.utils.crypto import salted_hmac

KEY_FILE = "imds_identity.pem"
CERTIFICATE_NAME = "LearnLab instance identity (not AWS)"
# The identity credentials follow the role credentials' documented rhythm: a new set hourly,
# each valid six hours.
CREDENTIALS_PERIOD = timedelta(hours=1)
CREDENTIALS_LIFETIME = timedelta(hours=6)
_IDENTITY_SALT = "learnlab.imds.identity-credentials"  # a salt, not a secret

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_signer: tuple | None = None


def _make_signer() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CERTIFICATE_NAME)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + certificate.public_bytes(serialization.Encoding.PEM)


def _load_or_create(path: Path) -> bytes:
    """The server's key and certificate: made once; a second process racing to make them
    keeps the first one written (a hard link never replaces a file)."""
    if not path.exists():
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as scratch:
            scratch.write(_make_signer())
        os.chmod(scratch.name, 0o600)
        try:
            os.link(scratch.name, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(scratch.name)
    return path.read_bytes()


def signer() -> tuple:
    """(private key, certificate) that sign instance identity documents on this server."""
    global _signer
    with _lock:
        if _signer is None:
            path = Path(settings.DATA_DIR) / KEY_FILE
            try:
                pem = _load_or_create(path)
            except OSError as error:
                # A read-only or missing data folder: sign with a key of this process's own
                # rather than fail the learner's request; signatures change on a restart.
                logger.warning(
                    "cannot keep the instance identity key in %s (%s): using a key held in "
                    "memory until this process ends; make the data folder writable to keep "
                    "one key across restarts",
                    path,
                    error,
                )
                pem = _make_signer()
            key = serialization.load_pem_private_key(pem, password=None)
            _signer = (key, x509.load_pem_x509_certificate(pem))
        return _signer


def certificate_pem() -> str:
    """LearnLab's public certificate, for a page that tells learners how to verify."""
    return signer()[1].public_bytes(serialization.Encoding.PEM).decode()


def signature(document: bytes) -> str:
    key, _ = signer()
    raw = key.sign(document, padding.PKCS1v15(), hashes.SHA256())
    return _lines(base64.b64encode(raw).decode())


def pkcs7(document: bytes) -> str:
    key, certificate = signer()
    signed = (
        pkcs7_format.PKCS7SignatureBuilder()
        .set_data(document)
        .add_signer(certificate, key, hashes.SHA256())
        .sign(
            serialization.Encoding.DER,
            [pkcs7_format.PKCS7Options.Binary, pkcs7_format.PKCS7Options.DetachedSignature],
        )
    )
    return _lines(base64.b64encode(signed).decode())


def _lines(text: str) -> str:
    return "\n".join(text[i : i + 64] for i in range(0, len(text), 64))


def credentials_window(now: datetime) -> tuple[datetime, datetime]:
    """When the current identity credentials were issued and when they expire."""
    issued = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return issued, issued + CREDENTIALS_LIFETIME


def identity_credentials(*, account_id: str, instance_id: str, issued: datetime) -> tuple:
    """(AccessKeyId, SecretAccessKey, Token) for one instance and hour: stable within the hour,
    unknown to the gate (no AccessKey row has them), so every request signed with them fails."""
    seed = salted_hmac(
        _IDENTITY_SALT, f"{account_id}:{instance_id}:{issued.isoformat()}", algorithm="sha256"
    ).digest()
    key_id = "ASIA" + base64.b32encode(seed).decode()[:16]
    secret = base64.b64encode(hashlib.sha256(seed + b"secret").digest()).decode()[:40]
    token = base64.b64encode(b"".join(hashlib.sha512(seed + bytes([i])).digest() for i in range(4)))
    return key_id, secret, token.decode()

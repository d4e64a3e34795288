"""The encoded authorization message learners decode with `aws sts decode-authorization-message`."""

from learnlab.sandbox.authorization import decode_message, encode_message


def test_no_encoded_message_starts_with_a_dash():
    """A message starting with "-" reads as an option to the CLI: `--encoded-message -x...`
    fails with "expected one argument" (CI caught it, about 1 run in 64)."""
    messages = [encode_message("123456789012", {"allowed": False}) for _ in range(2000)]
    assert not [m for m in messages if m.startswith("-")]
    assert all(decode_message("123456789012", m) == {"allowed": False} for m in messages[:50])


def test_a_message_is_sealed_to_its_account():
    message = encode_message("123456789012", {"allowed": False})
    assert decode_message("210987654321", message) is None

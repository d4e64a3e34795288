"""Whatever arrives at /aws, the answer is an AWS-shaped error or success, never a 500."""

import json
import xml.etree.ElementTree as ElementTree

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learnlab.gate.parsing import GATE_PREFIX

pytestmark = pytest.mark.django_db

SERVICES = st.sampled_from(["iam", "sts", "ec2", "s3", "ssm", "nope", ""])
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


@st.composite
def authorizations(draw, key_id):
    service = draw(SERVICES)
    key = draw(st.sampled_from([key_id, "AKIAIOSFODNN7EXAMPLE", draw(HEADER_TEXT)]))
    signature = draw(st.sampled_from(["0" * 64, draw(HEADER_TEXT)]))
    return (
        f"AWS4-HMAC-SHA256 Credential={key}/20261123/us-east-1/{service}/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}"
    )


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_requests_never_reach_a_500(client, sandbox, data):
    key_id = sandbox.lab_key().access_key_id
    path = GATE_PREFIX + data.draw(st.sampled_from(["", "/", "/bucket/", "/moto-api/reset/"]))
    if path.endswith("/"):
        path += data.draw(st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=20))
    headers = {
        "HTTP_AUTHORIZATION": data.draw(st.one_of(authorizations(key_id), HEADER_TEXT)),
        "HTTP_X_AMZ_DATE": data.draw(st.sampled_from(["20261123T000000Z", "garbage", ""])),
        "HTTP_X_AMZ_TARGET": data.draw(HEADER_TEXT),
        "CONTENT_TYPE": data.draw(
            st.sampled_from(["application/x-www-form-urlencoded", "application/json", ""])
        ),
    }
    method = data.draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"]))
    body = data.draw(TEXT).encode()
    response = client.generic(method, path, body, **headers)
    # No request here is signed right: every answer is a client error, with AWS's error code.
    assert 400 <= response.status_code < 500, response.content
    if method != "HEAD":
        assert _error_code(response), response.content


def _error_code(response) -> str:
    """The error code as AWS sends it: XML's <Error><Code>, or JSON's x-amzn-ErrorType header
    (and the same __type in the body when there is one); with a message."""
    if response["Content-Type"] == "text/xml":
        document = ElementTree.fromstring(response.content)  # noqa: S314 (the gate's own)
        error = document if document.tag == "Error" else document.find(".//Error")
        assert error is not None and error.findtext("Message")
        return error.findtext("Code") or ""
    document, code = json.loads(response.content), response.get("x-amzn-ErrorType", "")
    assert document["message"] and document.get("__type", code) == code
    return code

"""The one place that formats AWS errors, in each protocol's own shape, so that botocore and the
AWS CLI print them exactly as they print AWS's."""

import json
import re
import uuid
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

# Services and their wire protocols; anything else is JSON (with X-Amz-Target) or REST-JSON.
PROTOCOLS = {
    "s3": "rest-xml",
    "ec2": "ec2",
    "iam": "query",
    "sts": "query",
    "sns": "query",
    "cloudformation": "query",
    "elasticloadbalancing": "query",
    "autoscaling": "query",
    "rds": "query",
}


def protocol_for(service: str, headers: dict) -> str:
    if service in PROTOCOLS:
        return PROTOCOLS[service]
    return "json" if "x-amz-target" in headers else "rest-json"


# What XML 1.0 cannot carry, even as a character reference: C0 controls but tab, newline and
# carriage return; surrogates; U+FFFE and U+FFFF (XML 1.0, section 2.2, "Characters").
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """``text`` with each character XML cannot carry written as its code point (U+0001), so
    that an error repeating a learner's value is still a document botocore parses."""
    return XML_INVALID.sub(lambda match: f"U+{ord(match.group()):04X}", text)


@dataclass
class GateResponse:
    status: int
    headers: dict = field(default_factory=dict)
    body: bytes = b""


@dataclass
class AwsError(Exception):
    """An error as AWS words it. ``status`` is the HTTP status AWS uses for it."""

    code: str
    message: str
    status: int = 400

    def render(self, protocol: str) -> GateResponse:
        request_id = str(uuid.uuid4())
        code, message = escape(xml_safe(self.code)), escape(xml_safe(self.message))
        if protocol in ("json", "rest-json"):
            payload = {"__type": self.code, "message": self.message}
            if protocol == "rest-json":
                payload = {"message": self.message}
            return GateResponse(
                self.status,
                {
                    "Content-Type": "application/x-amz-json-1.1",
                    "x-amzn-ErrorType": self.code,
                    "x-amzn-RequestId": request_id,
                },
                json.dumps(payload).encode(),
            )
        if protocol == "ec2":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
                f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
            )
        elif protocol == "rest-xml":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message>"
                f"<RequestId>{request_id}</RequestId></Error>"
            )
        else:
            body = (
                "<ErrorResponse><Error><Type>Sender</Type>"
                f"<Code>{code}</Code><Message>{message}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>"
            )
        return GateResponse(
            self.status,
            {"Content-Type": "text/xml", "x-amzn-RequestId": request_id},
            body.encode(),
        )


# The gate's rejections, by protocol where AWS words them differently.


def invalid_key(protocol: str) -> AwsError:
    if protocol == "rest-xml":
        return AwsError(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            403,
        )
    if protocol == "ec2":
        return AwsError(
            "AuthFailure", "AWS was not able to validate the provided access credentials", 401
        )
    return AwsError(
        "InvalidClientTokenId", "The security token included in the request is invalid.", 403
    )


def bad_signature(protocol: str) -> AwsError:
    if protocol == "rest-xml":
        return AwsError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            403,
        )
    if protocol == "ec2":
        return AwsError(
            "AuthFailure", "AWS was not able to validate the provided access credentials", 401
        )
    return AwsError(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details.",
        403,
    )


def expired_token(protocol: str) -> AwsError:
    """Temporary credentials past their expiry, as each service answers them: S3
    ``ExpiredToken`` (400), EC2 ``RequestExpired`` "Request has expired." (400: the SDKs'
    issue threads quote it for expired instance-role and STS credentials, e.g.
    aws/aws-sdk-ruby#143, aws/aws-sdk-java#1443), IAM and STS ``ExpiredToken`` (403)."""
    if protocol == "rest-xml":
        return AwsError("ExpiredToken", "The provided token has expired.", 400)
    if protocol == "ec2":
        return AwsError("RequestExpired", "Request has expired.", 400)
    return AwsError("ExpiredToken", "The security token included in the request is expired", 403)


def missing_authentication(protocol: str) -> AwsError:
    if protocol == "rest-xml":
        return AwsError("AccessDenied", "Access Denied", 403)
    return AwsError("MissingAuthenticationToken", "Request is missing Authentication Token", 403)


def sandbox_unavailable() -> AwsError:
    return AwsError(
        "ServiceUnavailable",
        "The sandbox server is restarting. Try again in a few seconds.",
        503,
    )


def database_busy() -> AwsError:
    return AwsError("ServiceUnavailable", "LearnLab is busy. Try again in a few seconds.", 503)


def service_not_offered() -> AwsError:
    """AWS's answer for a service the account may not use; the lab offers four."""
    return AwsError(
        "OptInRequired",
        "This LearnLab sandbox offers IAM, EC2, STS and S3 only; this service is not part of "
        "the lab.",
        403,
    )


def invalid_scope() -> AwsError:
    return AwsError("IncompleteSignature", "Credential should be scoped to a valid region.", 400)


def invalid_action(protocol: str, action: str) -> AwsError:
    if protocol == "rest-xml":
        return AwsError(
            "InvalidRequest", f"This LearnLab sandbox does not offer S3's {action}.", 400
        )
    if not action:
        return AwsError("MissingAction", "The request must contain the parameter Action.", 400)
    return AwsError("InvalidAction", f"The action {action} is not valid for this web service.", 400)


def other_account(protocol: str, *, account_id: str) -> AwsError:
    """The request names an account id that is not the caller's (the message does not repeat
    it: no answer names another learner's account)."""
    message = (
        f"This LearnLab sandbox is account {account_id}, and the request names another "
        "account. A LearnLab sandbox reaches only its own account."
    )
    if protocol == "ec2":
        return AwsError("UnauthorizedOperation", message, 403)
    return AwsError("AccessDenied", message, 403)


def malformed_request(protocol: str, message: str) -> AwsError:
    if protocol == "rest-xml":
        return AwsError("InvalidRequest", message, 400)
    if protocol == "ec2":
        return AwsError("InvalidParameterValue", message, 400)
    return AwsError("MalformedQueryString", message, 400)


def duplicate_parameter(protocol: str, name: str) -> AwsError:
    return malformed_request(protocol, f"The parameter {name} appears more than once.")


def malformed_document(
    protocol: str, message: str = "This policy contains invalid Json: it is nested too deeply."
) -> AwsError:
    """A JSON document nested deeper, or far larger, than any AWS policy grammar allows."""
    if protocol == "rest-xml":
        return AwsError("MalformedPolicy", message, 400)
    if protocol == "ec2":
        return AwsError("InvalidParameterValue", message, 400)
    return AwsError("MalformedPolicyDocument", message, 400)


def path_refused() -> AwsError:
    return AwsError("AccessDenied", "Access Denied", 403)


def insecure_transport() -> AwsError:
    return AwsError(
        "AccessDenied",
        "LearnLab's AWS endpoint answers only over HTTPS: use the https:// endpoint URL.",
        403,
    )

"""Read each request the way moto will read it, so the gate judges what moto acts on.

A regex over text the gate builds for itself is not enough: moto reads the query string or the
form body whatever the case of its content type, keeps the first of two same-named parameters,
decodes JSON escapes and XML character references, and routes some paths to other services. So
the gate refuses what it cannot read exactly as moto does (parameters in two places, duplicate
names, compressed or multipart bodies, dot segments), and then looks at every decoded name and
value, the headers and the path for an account id.
"""

import json
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from learnlab.gate import limits
from learnlab.lib import aws_errors

GATE_PREFIX = "/aws"
# Paths the sandbox server or moto route away from the AWS APIs (moto's own API, the internal
# endpoints, moto's instance metadata), wherever they appear on the decoded path.
REFUSED_PREFIXES = ("/_admin", "/moto-api", "/latest/", "/favicon.ico")
# Headers that are the gate's own business (verified by it) or random ids no service reads.
UNSCANNED_HEADERS = {"authorization", "amz-sdk-invocation-id"}
MAX_JSON_DEPTH = 32  # AWS's policy grammar nests 5 deep; moto's parser would recurse past 1,000
MAX_NESTED_DOCUMENTS = 3  # a JSON string holding JSON, holding JSON...
# The largest JSON document read (AWS's largest policy, an S3 bucket policy, is 20 KB): scanning
# one costs at most some tens of milliseconds of the web process's time.
MAX_JSON_DOCUMENT = 256 * 1024
# A bracket or the quote that opens a string; then the rest of that string, its closing quote
# included. Possessive, and only ever tried from where the scan stands: linear in the text.
JSON_TOKEN = re.compile(r'[\[\]{}"]')
JSON_STRING_REST = re.compile(r'(?:[^"\\]++|\\.)*+"', re.DOTALL)


@dataclass
class ParsedRequest:
    """``pairs`` are the query API's parameters in order (S3: its query string); ``texts``
    everything in the request that moto may read an account id from, decoded as moto decodes
    it."""

    upstream_path: str
    pairs: list[tuple[str, str]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def params(self) -> dict[str, str]:
        return dict(self.pairs)

    @property
    def duplicate(self) -> str | None:
        seen = set()
        for name, _ in self.pairs:
            if name in seen:
                return name
            seen.add(name)
        return None


def upstream_path(raw_path: str) -> str:
    """The path the sandbox server will route on, decoded; refused if dot segments, empty
    segments or an internal prefix could make it mean something else there."""
    try:
        path = unquote(raw_path.removeprefix(GATE_PREFIX), errors="strict") or "/"
    except UnicodeDecodeError as error:
        raise aws_errors.path_refused() from error
    segments = path.split("/")[1:]
    if (
        not path.startswith("/")
        or "//" in path
        or "\\" in path
        or any(segment in (".", "..") for segment in segments)
        or "moto-api" in path
        or path.startswith(REFUSED_PREFIXES)
    ):
        raise aws_errors.path_refused()
    return path


def parse_request(request, protocol: str) -> ParsedRequest:
    """``request`` is a ``GateRequest``; ``protocol`` the credential scope's service's. A body
    over the protocol's cap is refused before it is read: the view refuses a long one by its
    Content-Length before receiving it, this refuses in-process calls' too."""
    limits.check_body_size(len(request.body), protocol)
    parsed = ParsedRequest(upstream_path=upstream_path(request.raw_path))
    parsed.texts.append(parsed.upstream_path)
    for name, value in request.headers.items():
        if name not in UNSCANNED_HEADERS:
            parsed.texts += [name, value, unquote(value)]  # S3 reads some headers decoded
    if protocol in ("query", "ec2"):
        if parsed.upstream_path != "/":
            raise aws_errors.path_refused()
        parsed.pairs = _query_parameters(request, protocol)
        for name, value in parsed.pairs:
            parsed.texts += [name, *_value_texts(value, protocol)]
    elif protocol == "rest-xml":
        parsed.pairs = _pairs(request.query, protocol)
        for name, value in parsed.pairs:
            parsed.texts += [name, value]
        if request.method == "POST" or any(
            name != "versionId" and name != "x-id" for name, _ in parsed.pairs
        ):
            parsed.texts += _s3_document_texts(request.body)
    return parsed


def _query_parameters(request, protocol: str) -> list[tuple[str, str]]:
    """moto takes a query API's parameters from the form body whatever the case of its content
    type (and even without one), else from the query string: the gate takes both and refuses a
    request that has parameters in both places."""
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise aws_errors.malformed_request(protocol, "Compressed request bodies are not accepted.")
    if request.headers.get("content-type", "").strip().lower().startswith("multipart/"):
        raise aws_errors.malformed_request(protocol, "Multipart request bodies are not accepted.")
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise aws_errors.malformed_request(protocol, "The request body is not UTF-8.") from error
    in_query, in_body = _pairs(request.query, protocol), _pairs(body, protocol)
    if in_query and in_body:
        raise aws_errors.malformed_request(
            protocol, "Parameters go in the query string or in the body, not in both."
        )
    return in_query or in_body


def _pairs(text: str, protocol: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as error:
        raise aws_errors.malformed_request(protocol, "Parameters must be UTF-8.") from error


def _value_texts(value: str, protocol: str) -> list[str]:
    """A parameter as moto may read it: as sent, percent-decoded, and as JSON (a policy
    document), every key and value decoded."""
    texts = [value, unquote(value)]
    documents, level = [value], 0
    while documents and level < MAX_NESTED_DOCUMENTS:
        strings = []
        for document in documents:
            strings += json_strings(document, protocol)
        texts += strings
        documents, level = [s for s in strings if _looks_like_json(s)], level + 1
    return texts


def _looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def json_strings(text: str, protocol: str) -> list[str]:
    """Every key and scalar of a JSON document, decoded; [] if ``text`` is not JSON. A document
    nested deeper than any policy is refused before a parser recurses into it."""
    if not _looks_like_json(text):
        return []
    if len(text) > MAX_JSON_DOCUMENT:
        raise aws_errors.malformed_document(
            protocol, f"This policy is larger than LearnLab reads ({MAX_JSON_DOCUMENT:,} bytes)."
        )
    if json_depth(text) > MAX_JSON_DEPTH:
        raise aws_errors.malformed_document(protocol)
    try:
        document = json.loads(text, strict=False)
    except ValueError:
        return []
    strings, pending = [], [document]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            strings += [str(key) for key in item]
            pending += item.values()
        elif isinstance(item, list):
            pending += item
        elif item is not None and not isinstance(item, bool):
            strings.append(str(item))
    return strings


def json_depth(text: str) -> int:
    """How deep a JSON text nests (brackets inside strings do not count), without recursing.

    One pass from left to right: a string is skipped from its opening quote to its closing
    one, and an unterminated string ends the scan. (Blanking strings with one regex first was
    quadratic: from every quote of an unterminated run of ``\\"`` it scanned to the end.)"""
    depth = deepest = position = 0
    while token := JSON_TOKEN.search(text, position):
        position = token.end()
        if token.group() == '"':
            rest = JSON_STRING_REST.match(text, position)
            if rest is None:
                break  # the rest of the text is one unterminated string
            position = rest.end()
        elif token.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    break
        else:
            depth -= 1
    return deepest


def _s3_document_texts(body: bytes) -> list[str]:
    """An S3 configuration body (policy JSON, or XML for ACLs, tags, CORS...), decoded as moto
    decodes it: JSON escapes and XML character references resolved. Object data never comes
    here."""
    text = body.decode("utf-8", "replace")
    texts = [text, *json_strings(text, "rest-xml")]
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise aws_errors.malformed_request(
            "rest-xml", "Document type declarations are not accepted."
        )
    if text.lstrip().startswith("<"):
        try:
            root = ElementTree.fromstring(text)  # noqa: S314 (no DTD, so no entities to expand)
        except (ElementTree.ParseError, RecursionError, ValueError):
            return texts
        for element in root.iter():
            texts += [str(element.tag), element.text or "", element.tail or ""]
            texts += [*element.attrib.keys(), *element.attrib.values()]
    return texts

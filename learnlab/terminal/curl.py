"""``curl`` in the terminal: the flags AWS's metadata-service documentation uses, answered by the
instance's metadata service in-process. Nothing leaves the server: any other host fails the way
curl fails when it cannot connect."""

import http
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import urlsplit

from learnlab.sandbox.models import Sandbox
from learnlab.terminal.instance import is_metadata_host, metadata_request

USER_AGENT = "curl/8.5.0"
TRY_HELP = "curl: try 'curl --help' or 'curl --manual' for more information\n"
FLAGS = {
    "-s": "silent",
    "--silent": "silent",
    "-S": "show_error",
    "--show-error": "show_error",
    "-i": "include",
    "--include": "include",
    "-I": "head",
    "--head": "head",
    "-v": "verbose",
    "--verbose": "verbose",
    "-f": "fail",
    "--fail": "fail",
    "--fail-with-body": "fail_with_body",
    "--no-progress-meter": "no_progress",
}
IGNORED_FLAGS = {
    "-L", "--location", "-k", "--insecure", "-g", "--globoff", "-4", "--ipv4", "-6", "--ipv6",
    "-N", "--no-buffer", "-q", "--compressed", "--http1.1", "--http1.0", "--tcp-nodelay",
}  # fmt: skip
WITH_VALUE = {
    "-X": "method",
    "--request": "method",
    "-H": "header",
    "--header": "header",
    "-w": "write_out",
    "--write-out": "write_out",
    "-d": "data",
    "--data": "data",
    "--data-raw": "data",
    "--data-binary": "data",
    "-A": "user_agent",
    "--user-agent": "user_agent",
    "--url": "url",
}
IGNORED_WITH_VALUE = {
    "-m", "--max-time", "--connect-timeout", "--retry", "--retry-delay", "--retry-max-time",
    "--noproxy", "-e", "--referer", "-x", "--proxy", "-u", "--user",
}  # fmt: skip
FILE_OPTIONS = {
    "-o", "--output", "-O", "--remote-name", "-T", "--upload-file", "-K", "--config",
    "-b", "--cookie", "-c", "--cookie-jar", "-D", "--dump-header", "-F", "--form",
    "--trace", "--trace-ascii", "--libcurl", "--stderr", "-E", "--cert", "--key", "--cacert",
    "--output-dir", "--create-dirs", "-n", "--netrc", "--netrc-file",
}  # fmt: skip
SHORT_WITH_VALUE = "XHwdAumexoTKbcDFE"


@dataclass
class CurlOptions:
    urls: list[str] = field(default_factory=list)
    method: str = ""
    headers: list[str] = field(default_factory=list)
    write_out: str = ""
    data: str | None = None
    user_agent: str = USER_AGENT
    silent: bool = False
    show_error: bool = False
    include: bool = False
    head: bool = False
    verbose: bool = False
    fail: bool = False
    fail_with_body: bool = False
    no_progress: bool = False


class CurlUsage(Exception):
    def __init__(self, message: str, status: int = 2):
        super().__init__(message)
        self.status = status


def run_curl(args: list[str], *, io, sandbox: Sandbox, instance_id: str) -> int:
    """curl as on the instance (``instance_id``) or the workstation (``instance_id`` blank).
    ``io`` has ``out(text)``, ``err(text)`` and ``tty`` (stdout is the terminal)."""
    try:
        options = _parse(args)
    except CurlUsage as error:
        io.err(str(error))
        return error.status
    status = 0
    for url in options.urls:
        status = _fetch(url, options, io=io, sandbox=sandbox, instance_id=instance_id)
    return status


def _parse(args: list[str]) -> CurlOptions:
    options = CurlOptions()
    queue = list(args)
    while queue:
        arg = queue.pop(0)
        if arg == "--":
            options.urls.extend(queue)
            break
        if arg.startswith("--"):
            name, has_value, value = arg.partition("=")
            if has_value and (name in WITH_VALUE or name in IGNORED_WITH_VALUE):
                queue.insert(0, value)
            _option(name, queue, options)
        elif arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            for index, letter in enumerate(letters):
                if letter in SHORT_WITH_VALUE and index + 1 < len(letters):
                    queue.insert(0, letters[index + 1 :])
                    _option("-" + letter, queue, options)
                    break
                _option("-" + letter, queue, options)
        else:
            options.urls.append(arg)
    if not options.urls:
        raise CurlUsage("curl: no URL specified!\n" + TRY_HELP)
    return options


def _option(name: str, queue: list[str], options: CurlOptions) -> None:
    if name in FILE_OPTIONS:
        raise CurlUsage(
            f"curl: option {name}: not available in this lab: the terminal cannot read or write "
            "files. Output appears here.\n"
        )
    if name in ("-h", "--help", "-M", "--manual"):
        raise CurlUsage(
            "Usage: curl [options...] <url>\n"
            " -H, --header <header>     Pass custom header(s) to server\n"
            " -i, --include             Include response headers in the output\n"
            " -X, --request <method>    Specify request method to use\n"
            " -s, --silent              Silent mode\n"
            " -w, --write-out <format>  Use output FORMAT after completion\n"
            " -f, --fail                Fail fast with no output on HTTP errors\n"
            " -v, --verbose             Make the operation more talkative\n",
            0,
        )
    if name in FLAGS:
        setattr(options, FLAGS[name], True)
        return
    if name in IGNORED_FLAGS:
        return
    if name in WITH_VALUE or name in IGNORED_WITH_VALUE:
        if not queue:
            raise CurlUsage(f"curl: option {name}: requires parameter\n" + TRY_HELP)
        value = queue.pop(0)
        attribute = WITH_VALUE.get(name)
        if attribute in ("header", "data", "write_out") and value.startswith("@"):
            raise CurlUsage(
                f"curl: option {name}: @file values are not available in this lab: the "
                "terminal cannot read files.\n"
            )
        if attribute == "header":
            options.headers.append(value)
        elif attribute == "url":
            options.urls.append(value)
        elif attribute:
            setattr(options, attribute, value)
        return
    raise CurlUsage(f"curl: option {name}: is unknown\n" + TRY_HELP)


def _fetch(url: str, options: CurlOptions, *, io, sandbox: Sandbox, instance_id: str) -> int:
    show_errors = options.show_error or not options.silent
    if "://" not in url:
        url = "http://" + url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return _error(io, show_errors, 3, "URL rejected: Malformed input to a URL function")
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    if scheme not in ("http", "https"):
        return _error(io, show_errors, 1, f'Protocol "{scheme}" not supported')
    if not host:
        return _error(io, show_errors, 3, "URL rejected: No host part in the URL")
    port = port or (443 if scheme == "https" else 80)
    shown_host = f"[{host}]" if ":" in host else host
    if not is_metadata_host(host):
        where = "this lab's instance can reach only its metadata service (169.254.169.254)"
        if not instance_id:
            where = "the lab's terminal has no network: only an instance's metadata service answers"
        status = _error(
            io, show_errors, 7,
            f"Failed to connect to {shown_host} port {port} after 0 ms: Couldn't connect to server",
        )  # fmt: skip
        io.err(f"({where})\n")
        return status
    if not instance_id:
        status = _error(
            io, show_errors, 28,
            f"Failed to connect to {shown_host} port {port} after 1001 ms: Timeout was reached",
        )  # fmt: skip
        io.err(
            "(this is your workstation, not an EC2 instance: the metadata service answers only "
            "on an instance. Type `connect <instance-id>` to open a shell on one.)\n"
        )
        return status
    if scheme == "https" or port != 80:
        return _error(
            io, show_errors, 7,
            f"Failed to connect to {shown_host} port {port} after 0 ms: Connection refused",
        )  # fmt: skip
    method = options.method or ("HEAD" if options.head else "POST" if options.data else "GET")
    headers = {"host": shown_host, "user-agent": options.user_agent, "accept": "*/*"}
    sent = [f"Host: {shown_host}", f"User-Agent: {options.user_agent}", "Accept: */*"]
    for header in options.headers:
        name, _, value = header.partition(":")
        name, value = name.strip(), value.strip()
        if not name:
            continue
        headers[name.lower()] = value
        sent.append(f"{name}: {value}")
    path = parts.path or "/"
    answer = metadata_request(
        sandbox=sandbox, instance_id=instance_id, method=method, path=path, headers=headers
    )
    body = "" if method == "HEAD" else answer.body
    response_headers = _response_headers(answer, len(answer.body.encode()))
    reason = http.HTTPStatus(answer.status).phrase if answer.status in http.HTTPStatus else ""
    status_line = f"HTTP/1.1 {answer.status} {reason}".rstrip()
    if options.verbose:
        io.err(
            f"*   Trying {shown_host}:{port}...\n* Connected to {shown_host} ({host}) port {port}\n"
            f"> {method} {path}{'?' + parts.query if parts.query else ''} HTTP/1.1\n"
            + "".join(f"> {line}\n" for line in sent)
            + ">\n"
            + f"< {status_line}\n"
            + "".join(f"< {line}\n" for line in response_headers)
            + "<\n"
        )
    failed = (options.fail or options.fail_with_body) and answer.status >= 400
    if not options.silent and not options.no_progress and not io.tty and not options.verbose:
        io.err(_progress_meter(len(body.encode())))
    if options.include or options.head:
        io.out(status_line + "\n" + "".join(f"{line}\n" for line in response_headers) + "\n")
    if not failed or options.fail_with_body:
        io.out(body)
    if options.write_out:
        io.out(_write_out(options.write_out, answer.status, answer, url, method, len(body)))
    if options.verbose:
        io.err(f"* Connection #0 to host {shown_host} left intact\n")
    if failed:
        return _error(io, show_errors, 22, f"The requested URL returned error: {answer.status}")
    return 0


def _error(io, show: bool, code: int, message: str) -> int:
    if show:
        io.err(f"curl: ({code}) {message}\n")
    return code


def _response_headers(answer, length: int) -> list[str]:
    lines = [f"{name}: {value}" for name, value in answer.headers.items()]
    now = formatdate(usegmt=True)
    return [
        *lines,
        f"Content-Type: {answer.content_type}",
        "Accept-Ranges: none",
        f"Last-Modified: {now}",
        f"Content-Length: {length}",
        f"Date: {now}",
        "Server: EC2ws",
        "Connection: close",
    ]


def _progress_meter(size: int) -> str:
    """What curl prints to stderr when its output is not a terminal and -s is not given."""
    return (
        "  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
        "                                 Dload  Upload   Total   Spent    Left  Speed\n"
        f"100 {size:5d}  100 {size:5d}    0     0  {size * 100:5d}      0 --:--:-- --:--:-- "
        f"--:--:-- {size * 100:5d}\n"
    )


def _write_out(template: str, status: int, answer, url: str, method: str, size: int) -> str:
    values = {
        "http_code": f"{status:03d}",
        "response_code": str(status),
        "content_type": answer.content_type,
        "size_download": str(size),
        "url_effective": url,
        "url": url,
        "method": method,
        "http_version": "1.1",
        "scheme": "HTTP",
        "exitcode": "0",
        "errormsg": "",
        "time_total": "0.001200",
        "num_headers": str(len(answer.headers) + 7),
    }
    text, index = [], 0
    while index < len(template):
        if template.startswith("%{", index) and "}" in template[index:]:
            end = template.index("}", index)
            name = template[index + 2 : end]
            text.append(values.get(name, ""))
            index = end + 1
        elif template.startswith("%%", index):
            text.append("%")
            index += 2
        elif template[index] == "\\" and index + 1 < len(template):
            text.append(
                {"n": "\n", "r": "\r", "t": "\t"}.get(template[index + 1], template[index + 1])
            )
            index += 2
        else:
            text.append(template[index])
            index += 1
    return "".join(text)

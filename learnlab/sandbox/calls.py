"""A recorded call: what the gate keeps of a successful AWS call that changed a sandbox, and what
the sandbox server replays to rebuild it. One shape on both sides: the gate records it
(``sandbox_call_record``), ``SandboxCall`` stores it, a rebuild sends it (``connection.
account_bootstrap``) and the server replays it. Plain Python: the sandbox server imports it.
"""

import base64
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class RecordedCall:
    method: str
    path: str  # the sandbox server's path and query
    headers: dict  # those moto reads: content type, x-amz-target, x-amz-*
    body: bytes
    scope: str  # the signature's region/service: moto routes by it
    seed: int  # moto drew the call's random ids from it; the replay draws the same
    action: str = ""  # for people reading the log

    def as_json(self) -> dict:
        """The call as a rebuild sends it (the body in base64)."""
        return asdict(self) | {"body": base64.b64encode(self.body).decode()}

    @classmethod
    def from_json(cls, document: dict) -> "RecordedCall":
        """The call ``as_json`` sent; TypeError if a field is missing or unknown."""
        fields = dict(document)
        fields["body"] = base64.b64decode(fields.get("body", ""))
        return cls(**fields)

from learnlab.gate.parsing import GATE_PREFIX
from learnlab.gate.views import aws


class GateMiddleware:
    """Send AWS API requests straight to the gate, ahead of the page middleware.

    SigV4 requests need no session, CSRF token, messages or CSP, and skipping them keeps the
    gate's overhead over a direct call to the sandbox server small (bench/gate.py).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path == GATE_PREFIX or path.startswith(GATE_PREFIX + "/"):
            return aws(request)
        return self.get_response(request)

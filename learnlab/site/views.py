from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from learnlab.site.health import database_health, sandbox_server_health, task_cluster_health


@require_GET
def home(request):
    return render(request, "site/home.html", {"section": "home"})


@never_cache
@require_GET
def healthz(request):
    checks = {
        "database": database_health(),
        "sandbox_server": sandbox_server_health(),
        "task_cluster": task_cluster_health(),
    }
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse({"ok": healthy, **checks}, status=200 if healthy else 503)

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from learnlab.live.waiting import wait_answer

DEV_HOLD_SECONDS = 25.0


@require_GET
@never_cache
def wait(request):
    """``/live/wait`` where no asyncio front holds it (runserver, the test server): the same
    answer, held on this request's thread (site/web.py answers it without one in production)."""
    status, body = wait_answer(
        request.META.get("QUERY_STRING", ""),
        request.COOKIES.get(settings.SESSION_COOKIE_NAME),
        hold=DEV_HOLD_SECONDS,
    )
    return HttpResponse(body, status=status, content_type="application/json")

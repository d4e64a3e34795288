"""``GET /live/wait?t=<signed topics>&v=<versions>``: held in the asyncio front, no thread.

One ``Dispatcher`` a process: a task that reads the ``Change`` rows changed since its last
look (one query every POLL_SECONDS, on its own thread, however many pages wait) and wakes the
waiters of the topics that moved. A wait whose versions are stale is answered at once; else it
is held up to HOLD_SECONDS and answered 204 (the page asks again). ``wait_answer`` is the same
answer computed in Django (``live.views.wait``), for runserver, which has no asyncio front.

A process holds at most MAX_WAITERS waits (then 503: the page falls back on its safety poll),
and one client address at most MAX_PER_CLIENT of them (then 429 with a Retry-After), so one
client cannot take the whole cap from everyone else. A class behind one NAT shares an address:
LEARNLAB_LIVE_WAITERS_PER_CLIENT raises the share (a page holds one wait per live fragment).
"""

import asyncio
import json
import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import parse_qs

from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from learnlab.lib.env import env_int
from learnlab.live.selectors import changes_since, topic_versions
from learnlab.live.services import BadTopics, topics_read

log = logging.getLogger(__name__)

PATH = "/live/wait"
HOLD_SECONDS = 25.0  # under gunicorn's 30 s worker timeout and most proxies' idle timeouts
POLL_SECONDS = 0.25
# A writer's row can commit a little after its changed_at (its transaction): look back this far.
OVERLAP = timedelta(seconds=3)
RESYNC_SECONDS = 30.0  # and read every row now and then, whatever a slow commit missed
MAX_WAITERS = max(1, env_int("LEARNLAB_LIVE_WAITERS", 4000))  # held waits per process
# Held waits per client address: by default max(8, an eighth of the cap), never more than half
# the cap: 500 a process, so a class of a few hundred behind one school address keeps its waits
# while one client still cannot take the process's cap from everyone.
MAX_PER_CLIENT = env_int(
    "LEARNLAB_LIVE_WAITERS_PER_CLIENT", max(1, min(MAX_WAITERS // 2, max(8, MAX_WAITERS // 8)))
)
RETRY_SECONDS = 10  # a client over its share: its own held waits end within HOLD_SECONDS


def parse_query(query: str) -> tuple[str, str]:
    fields = parse_qs(query, keep_blank_values=True)
    return (fields.get("t") or [""])[0], (fields.get("v") or [""])[0]


def answer(status: int, versions: list[int] | None = None, text: str = "") -> tuple[int, bytes]:
    """The wait's answer: 200 with the new versions, 204 nothing yet, else the error's words."""
    if status == 200:
        return 200, json.dumps({"v": ",".join(map(str, versions))}).encode()
    if status == 204:
        return 204, b""
    return status, json.dumps({"error": text}).encode()


def wait_answer(
    query: str, session_key: str | None, *, hold: float, poll: float = 0.5
) -> tuple[int, bytes]:
    """The whole wait in Django's thread (runserver): polls the topics' rows every ``poll``."""
    try:
        topics = topics_read(*parse_query(query), session_key)
    except BadTopics as error:
        return answer(error.status, text=str(error))
    keys = [key for key, _v in topics]
    deadline = time.monotonic() + hold
    while True:
        now = topic_versions(keys)
        if any(now[key] > v for key, v in topics):
            return answer(200, [now[key] for key in keys])
        if time.monotonic() >= deadline:
            return answer(204)
        time.sleep(poll)


class Busy(Exception):
    """The process holds MAX_WAITERS waits."""


class ClientBusy(Exception):
    """This client address holds MAX_PER_CLIENT waits."""


class Dispatcher:
    def __init__(self):
        self.versions: dict[str, int] = {}
        self.waiters: dict[str, set[asyncio.Future]] = defaultdict(set)
        self.held = 0
        self.held_by: dict[str, int] = defaultdict(int)  # held waits per client address
        self.queries = 0
        self._ready: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live")

    def _start(self) -> None:
        if self._task is None:
            self._ready = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def wait(
        self, topics: list[tuple[str, int]], hold: float, client: str = ""
    ) -> list[int] | None:
        """The topics' versions as soon as one differs from the page's; None after ``hold``.
        Raises ``ClientBusy`` past ``client``'s share of held waits, ``Busy`` past the cap."""
        self._start()
        await self._ready.wait()
        keys = [key for key, _v in topics]
        if any(self.versions.get(key, 0) > v for key, v in topics):
            return [self.versions.get(key, 0) for key in keys]
        if MAX_PER_CLIENT > 0 and self.held_by.get(client, 0) >= MAX_PER_CLIENT:
            raise ClientBusy
        if self.held >= MAX_WAITERS:
            raise Busy
        future = asyncio.get_running_loop().create_future()
        for key in keys:
            self.waiters[key].add(future)
        self.held += 1
        self.held_by[client] += 1
        try:
            await asyncio.wait_for(future, hold)
        except TimeoutError:
            return None
        finally:
            self.held -= 1
            self.held_by[client] -= 1
            if self.held_by[client] <= 0:
                del self.held_by[client]
            for key in keys:
                self.waiters[key].discard(future)
                if not self.waiters[key]:
                    del self.waiters[key]
        return [self.versions.get(key, 0) for key in keys]

    def _read(self, since):
        close_old_connections()
        try:
            return changes_since(since)
        finally:
            self.queries += 1

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        since, resync_at = None, 0.0
        while True:
            started = timezone.now()
            full = since is None or time.monotonic() >= resync_at
            try:
                rows = await loop.run_in_executor(self._thread, self._read, None if full else since)
            except DatabaseError:
                log.warning("live: could not read changes; trying again", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            if full:
                resync_at = time.monotonic() + RESYNC_SECONDS
            since = started - OVERLAP
            for key, version, _at in rows:
                if version != self.versions.get(key):
                    self.versions[key] = version
                    for future in self.waiters.get(key, ()):
                        if not future.done():
                            future.set_result(None)
            self._ready.set()
            await asyncio.sleep(POLL_SECONDS)


dispatcher = Dispatcher()


async def serve(
    query: str, session_key: str | None, disconnected, client: str = ""
) -> tuple[int, bytes]:
    """The asyncio front's answer to one wait; ``session_key`` is the request's session cookie
    (the token must have been rendered for it), ``disconnected`` is awaitable (the client
    left), ``client`` the address whose share of held waits it takes."""
    try:
        topics = topics_read(*parse_query(query), session_key)
    except BadTopics as error:
        return answer(error.status, text=str(error))
    waiting = asyncio.ensure_future(dispatcher.wait(topics, HOLD_SECONDS, client))
    gone = asyncio.ensure_future(disconnected)
    try:
        done, _pending = await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if waiting not in done:
        waiting.cancel()
        return answer(204)
    try:
        versions = waiting.result()
    except ClientBusy:
        return answer(
            429,
            text=f"Too many pages from this address are waiting for updates (at most "
            f"{MAX_PER_CLIENT}): this one asks again in {RETRY_SECONDS} s, and refreshes on its "
            "own meanwhile.",
        )
    except Busy:
        return answer(503, text="Too many pages are waiting for updates: this page polls instead.")
    return answer(204) if versions is None else answer(200, versions)

// Live fragments without fast polling (learnlab/live/): an element with data-live-topics (and an
// id) is refreshed by htmx on "live-changed", which this script sends when
//  - the server says one of its topics changed (a held GET /live/wait, answered at once when the
//    page's versions are stale, else when a change happens, else 204 after about 25 s);
//  - its own deadline comes (data-live-at, epoch seconds: a set's Expiration);
//  - the learner acted on the page ("lab-changed", from a console form, Check or the terminal);
//  - the tab becomes visible again (nothing is waited for while it is hidden).
// The fragment's own hx-trigger adds a slow safety poll ("every 60s"). Countdowns
// (data-countdown / data-countup, epoch seconds) tick here, corrected by data-live-now, and never
// go back: a countdown never goes up, a count-up never down (see tick).
"use strict";

(() => {
  const WAIT = "/live/wait";
  const loops = new Set();
  const deadlines = new Map();
  // Server clock minus this one, in ms. Each data-live-now (whole seconds, read before the page
  // was rendered, sent and swapped in) gives a value at most the true one, so the largest seen is
  // the best: taking the latest instead moved it by up to a second each refresh, and a countdown
  // went up. The clock is the monotonic one, so a change of the computer's clock moves nothing.
  let skew = -Infinity;
  const clock = () => performance.timeOrigin + performance.now();
  // Per deadline (data-countdown's / data-countup's value): what the server's own rendered number
  // allows, as "the count is below (bound - clock()) / 1000" (countdown) or "at least (clock() -
  // bound) / 1000" (count-up). The server floors the exact time left when it renders, so its
  // number, counted on from when this page read it, is a bound the tick keeps to; the page's
  // estimate alone can be a second high (its deadline and the server's clock are whole seconds).
  const below = new Map();
  const since = new Map();
  const read = new WeakSet(); // countdown elements whose server-rendered number was read

  const sleep = (ms) => new Promise((resolve) => { window.setTimeout(resolve, ms); });
  const live = () => document.querySelectorAll("[data-live-topics][id]");
  const fire = (element) => element.dispatchEvent(new CustomEvent("live-changed"));
  const visible = () => new Promise((resolve) => {
    if (!document.hidden) { resolve(); return; }
    document.addEventListener("visibilitychange", function seen() {
      if (document.hidden) return;
      document.removeEventListener("visibilitychange", seen);
      resolve();
    });
  });

  async function waitLoop(id) {
    loops.add(id);
    let token = null;
    let versions = "";
    let failures = 0;
    for (;;) {
      const element = document.getElementById(id);
      if (!element || !element.dataset.liveTopics) break; // gone, or live updates paused
      if (document.hidden) {
        await visible(); // the visibilitychange listener below refreshes what happened meanwhile
        continue;
      }
      if (element.dataset.liveTopics !== token) {
        token = element.dataset.liveTopics;
        versions = element.dataset.liveVersions || "";
      }
      let response = null;
      try {
        const query = `t=${encodeURIComponent(token)}&v=${encodeURIComponent(versions)}`;
        response = await fetch(`${WAIT}?${query}`, { cache: "no-store", credentials: "same-origin" });
      } catch {
        response = null; // offline, or the server restarting
      }
      const now = document.getElementById(id);
      if (response && response.status === 200) {
        failures = 0;
        try {
          versions = (await response.json()).v;
        } catch {
          token = null; // re-read the element's own
        }
        if (now) fire(now);
        continue;
      }
      if (response && response.status === 204) {
        failures = 0;
        continue;
      }
      if (response && response.status === 404) break; // no live endpoint: the safety poll alone
      if (response && (response.status === 400 || response.status === 403)) {
        // Expired or unreadable topics: the fragment's refresh brings fresh ones.
        if (now) fire(now);
        token = null;
      }
      failures += 1;
      // Too many waits held (429: this address's share; 503: the process's cap): at least the
      // server's Retry-After, else the same backoff as any error.
      const retry = response ? Number(response.headers.get("Retry-After")) || 0 : 0;
      await sleep(Math.max(retry * 1000, Math.min(30000, 1000 * 2 ** Math.min(failures, 5))));
    }
    loops.delete(id);
  }

  function scan() {
    for (const element of live()) {
      if (!loops.has(element.id)) waitLoop(element.id);
      if (element.dataset.liveNow) {
        skew = Math.max(skew, Number(element.dataset.liveNow) * 1000 - clock());
      }
      const at = Number(element.dataset.liveAt || 0);
      const planned = deadlines.get(element.id);
      if (planned && planned.at === at) continue;
      if (planned) window.clearTimeout(planned.timer);
      deadlines.delete(element.id);
      if (!at) continue;
      const delay = at * 1000 - serverNow() + 250; // just after it, on the server's clock
      if (delay < 0 || delay > 2 ** 31 - 1) continue;
      const timer = window.setTimeout(() => {
        deadlines.delete(element.id);
        const current = document.getElementById(element.id);
        if (current) fire(current);
      }, delay);
      deadlines.set(element.id, { at, timer });
    }
  }

  const serverNow = () => clock() + (Number.isFinite(skew) ? skew : 0);

  function bounds() {
    // Read each new countdown's server-rendered number ("N s") once, as it arrives.
    const now = clock();
    for (const element of document.querySelectorAll(
      "[data-live-topics] [data-countdown], [data-live-topics] [data-countup]",
    )) {
      if (read.has(element)) continue;
      read.add(element);
      const match = element.textContent.trim().match(/^(\d+) s/);
      if (!match) continue;
      const shown = Number(match[1]);
      if (element.dataset.countdown) {
        const key = element.dataset.countdown;
        const bound = now + (shown + 1) * 1000; // exact time left < shown + 1 when rendered
        below.set(key, Math.min(below.get(key) ?? Infinity, bound));
      } else {
        const key = element.dataset.countup;
        const bound = now - shown * 1000; // exact time since >= shown when rendered
        since.set(key, Math.max(since.get(key) ?? -Infinity, bound));
      }
    }
  }

  function tick() {
    // Whole seconds as the server renders them (it floors), from the page's estimate of the
    // server's clock, kept within the server's own numbers: each term only ever falls (rises, for
    // a count-up) as time goes on, so the count shown never goes back.
    bounds();
    const now = clock();
    const server = serverNow();
    for (const element of document.querySelectorAll("[data-live-topics] [data-countdown]")) {
      const key = element.dataset.countdown;
      let left = Math.floor((Number(key) * 1000 - server) / 1000);
      if (below.has(key)) left = Math.min(left, Math.ceil((below.get(key) - now) / 1000) - 1);
      element.textContent = `${Math.max(0, left)} s`;
    }
    for (const element of document.querySelectorAll("[data-live-topics] [data-countup]")) {
      const key = element.dataset.countup;
      let ago = Math.floor((server - Number(key) * 1000) / 1000);
      if (since.has(key)) ago = Math.max(ago, Math.floor((now - since.get(key)) / 1000));
      element.textContent = `${Math.max(0, ago)} s ago`;
    }
  }

  // A refreshed fragment's countdowns are corrected as they arrive, before a paint (or anything
  // else watching the page) sees the server's number, which is as old as the request it answered
  // and so can be a second above the tick it replaces.
  const counts = (node) => node.nodeType === Node.ELEMENT_NODE
    && (node.matches("[data-countdown], [data-countup], [data-live-topics]")
      || node.querySelector("[data-countdown], [data-countup]"));
  new MutationObserver((records) => {
    if (!records.some((record) => Array.prototype.some.call(record.addedNodes, counts))) return;
    scan();
    tick();
  }).observe(document.documentElement, { childList: true, subtree: true });

  document.addEventListener("htmx:after:swap", scan);
  document.addEventListener("lab-changed", () => { for (const element of live()) fire(element); });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) for (const element of live()) fire(element);
  });
  scan();
  tick();
  window.setInterval(tick, 1000);
})();

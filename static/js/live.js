// Live fragments without fast polling (learnlab/live/): an element with data-live-topics (and an
// id) is refreshed by htmx on "live-changed", which this script sends when
//  - the server says one of its topics changed (a held GET /live/wait, answered at once when the
//    page's versions are stale, else when a change happens, else 204 after about 25 s);
//  - its own deadline comes (data-live-at, epoch seconds: a set's Expiration);
//  - the learner acted on the page ("lab-changed", from a console form, Check or the terminal);
//  - the tab becomes visible again (nothing is waited for while it is hidden).
// The fragment's own hx-trigger adds a slow safety poll ("every 60s"). Countdowns
// (data-countdown / data-countup, epoch seconds) tick here, corrected by data-live-now.
"use strict";

(() => {
  const WAIT = "/live/wait";
  const loops = new Set();
  const deadlines = new Map();
  let skew = 0; // server clock minus this one, in ms

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
      if (element.dataset.liveNow) skew = Number(element.dataset.liveNow) * 1000 - Date.now();
      const at = Number(element.dataset.liveAt || 0);
      const planned = deadlines.get(element.id);
      if (planned && planned.at === at) continue;
      if (planned) window.clearTimeout(planned.timer);
      deadlines.delete(element.id);
      if (!at) continue;
      const delay = at * 1000 - skew - Date.now() + 250; // just after it, on the server's clock
      if (delay < 0 || delay > 2 ** 31 - 1) continue;
      const timer = window.setTimeout(() => {
        deadlines.delete(element.id);
        const current = document.getElementById(element.id);
        if (current) fire(current);
      }, delay);
      deadlines.set(element.id, { at, timer });
    }
  }

  function tick() {
    const now = Date.now() + skew;
    for (const element of document.querySelectorAll("[data-live-topics] [data-countdown]")) {
      const left = Math.max(0, Math.round((Number(element.dataset.countdown) * 1000 - now) / 1000));
      element.textContent = `${left} s`;
    }
    for (const element of document.querySelectorAll("[data-live-topics] [data-countup]")) {
      const ago = Math.max(0, Math.round((now - Number(element.dataset.countup) * 1000) / 1000));
      element.textContent = `${ago} s ago`;
    }
  }

  document.addEventListener("htmx:after:swap", scan);
  document.addEventListener("lab-changed", () => { for (const element of live()) fire(element); });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) for (const element of live()) fire(element);
  });
  scan();
  window.setInterval(tick, 1000);
})();

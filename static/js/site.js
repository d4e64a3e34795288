// LearnLab's only hand-written script: small, framework-free, no inline handlers (strict CSP).
"use strict";

function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  window.setTimeout(() => { region.textContent = text; }, 50);
}

// Copy buttons: <button data-copy-target="id-of-element">. Delegated, so swapped-in content works.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copyTarget);
  if (!source) return;
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(source.textContent);
    button.textContent = "Copied";
    announce("Copied to the clipboard.");
  } catch {
    // No clipboard permission: select the text so Ctrl+C works.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Press Ctrl+C";
    announce("Text selected. Press Control C to copy.");
  }
  window.setTimeout(() => { button.textContent = label; }, 2000);
});

// Exam timer: counts down to data-deadline, warns at 5 and 1 minutes through the live region,
// and submits the exam at zero. The clock can be hidden; time can be added or the timer turned
// off from the page (WCAG 2.2.1).
const timer = document.querySelector(".timer[data-deadline]");
if (timer) {
  const deadline = Number(timer.dataset.deadline);
  const clock = timer.querySelector(".timer-clock");
  const warned = new Set();
  let handle = null;
  const tick = () => {
    const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    clock.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    for (const mark of [300, 60]) {
      if (left > 0 && left <= mark && !warned.has(mark)) {
        warned.add(mark);
        announce(`${mark / 60} minute${mark > 60 ? "s" : ""} left. You can add time or turn the timer off.`);
      }
    }
    if (left === 0) {
      window.clearInterval(handle);
      announce("Time is up. Submitting your answers.");
      document.getElementById(timer.dataset.submitForm).submit();
    }
  };
  handle = window.setInterval(tick, 1000);
  tick();
  const toggle = timer.querySelector("[data-timer-toggle]");
  toggle.addEventListener("click", () => {
    const hidden = toggle.getAttribute("aria-pressed") !== "true";
    toggle.setAttribute("aria-pressed", String(hidden));
    clock.parentElement.hidden = hidden;
    toggle.textContent = hidden ? "Show the clock" : "Hide the clock";
  });
}

// Rotation announcements: when the polled credentials panel shows a new key id, say so once.
const announceNewKeys = () => {
  let lastKey = document.getElementById("credentials-panel")?.dataset.keyId || "";
  new MutationObserver(() => {
    const key = document.getElementById("credentials-panel")?.dataset.keyId || "";
    if (key && lastKey && key !== lastKey) {
      announce(`New credentials arrived: key ending ${key.slice(-4)}. The previous set stays valid until it expires.`);
    }
    if (key) lastKey = key;
  }).observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-key-id"] });
};
if (document.getElementById("credentials-panel")) announceNewKeys();

// Labs: after a change (detail.what: "sandbox" from a console form or the terminal, "progress"
// from a Check), refresh the parts of the page that show it (data-refresh-on). A console form
// the learner has started typing into is left alone; a closed one is only marked stale, and
// fetched when it is opened (closed forms start stale: their fields load on first open).
async function refreshPart(part) {
  try {
    const response = await fetch(part.dataset.refreshUrl, { headers: { "HX-Request": "true" } });
    if (!response.ok) return;
    const html = await response.text();
    if (part.classList.contains("console-fields")) {
      part.innerHTML = html;
      delete part.dataset.stale;
    } else {
      part.outerHTML = html;
    }
  } catch {
    // Offline for a moment: the next change refreshes it.
  }
}
document.addEventListener("input", (event) => {
  event.target.closest(".console-fields")?.setAttribute("data-dirty", "true");
});
document.addEventListener("lab-changed", (event) => {
  const { source, what = "sandbox" } = event.detail || {};
  for (const part of document.querySelectorAll("[data-refresh-url]")) {
    if (!(part.dataset.refreshOn || "sandbox").split(" ").includes(what)) continue;
    if (part.dataset.dirty === "true" || (source && part.dataset.source === source)) continue;
    if (part.closest("details:not([open])")) {
      part.dataset.stale = "true";
      continue;
    }
    refreshPart(part);
  }
});
// "toggle" does not bubble: listen in the capture phase.
document.addEventListener(
  "toggle",
  (event) => {
    if (!event.target.open) return;
    const part = event.target.querySelector(":scope > form .console-fields[data-stale]");
    if (part) refreshPart(part);
  },
  true,
);

// ---------------------------------------------------------------------------------------------
// Terminal (templates/terminal/_terminal.html). Enter runs the command; Shift+Enter, or Enter
// after a trailing backslash, continues it on a new line (as bash's "> " prompt does). Up and Down
// walk the commands run in this tab (sessionStorage) when the caret is on the first or last line.
// htmx posts the form and appends the answer to the log; this only handles keys and focus.
const terminalRoot = document.querySelector("[data-terminal]");
if (terminalRoot) {
  const form = terminalRoot.querySelector(".terminal-form");
  const line = terminalRoot.querySelector("#terminal-line");
  const log = terminalRoot.querySelector("#terminal-log");
  const status = terminalRoot.querySelector(".terminal-running");
  const storageKey = "learnlab-terminal-history";
  const readHistory = () => {
    try {
      const stored = JSON.parse(window.sessionStorage.getItem(storageKey));
      return Array.isArray(stored) ? stored : [];
    } catch {
      return [];
    }
  };
  let history = readHistory();
  let position = history.length;
  let draft = "";
  let submitted = null;
  // A command typed and entered while another runs runs next, as a shell reads typed-ahead lines
  // (Enter on the running command itself, unchanged, is not a second run).
  let queued = false;

  const fit = () => {
    line.rows = 1; // grow to the text, wrapped lines included, up to 12 rows
    while (line.rows < 12 && line.scrollHeight > line.clientHeight) line.rows += 1;
  };
  const toBottom = () => { log.scrollTop = log.scrollHeight; };
  const show = (text) => {
    line.value = text;
    fit();
    line.setSelectionRange(text.length, text.length);
  };
  toBottom();

  form.addEventListener("submit", () => {
    const value = line.value;
    submitted = value;
    if (value.trim() && history[history.length - 1] !== value) {
      history = [...history, value].slice(-200);
      try {
        window.sessionStorage.setItem(storageKey, JSON.stringify(history));
      } catch {
        // Storage full or disabled: history lasts until the page reloads.
      }
    }
    position = history.length;
    draft = "";
  });

  line.addEventListener("input", fit);
  line.addEventListener("keydown", (event) => {
    if (event.isComposing) return;
    const before = line.value.slice(0, line.selectionStart);
    const after = line.value.slice(line.selectionEnd);
    // A recalled command, unedited, is stepped over whole; otherwise Up and Down move the caret
    // between lines until it reaches the first or last.
    const recalled = position < history.length && line.value === history[position];
    if (event.key === "Enter" && !event.shiftKey) {
      if (line.value.endsWith("\\") && !after) return; // a continuation: the newline goes in
      event.preventDefault();
      if (submitted === null) {
        form.requestSubmit();
      } else if (line.value !== submitted && line.value.trim()) {
        queued = true;
        status.textContent = "Running… your next command runs after this one.";
      }
    } else if (event.key === "ArrowUp" && (recalled || !before.includes("\n")) && position > 0) {
      event.preventDefault();
      if (position === history.length) draft = line.value;
      position -= 1;
      show(history[position]);
    } else if (
      event.key === "ArrowDown" && (recalled || !after.includes("\n")) && position < history.length
    ) {
      event.preventDefault();
      position += 1;
      show(position === history.length ? draft : history[position]);
    }
  });

  form.addEventListener("htmx:before:request", () => {
    status.textContent = "Running…";
    log.setAttribute("aria-busy", "true");
  });
  form.addEventListener("htmx:finally:request", () => {
    status.textContent = "";
    log.setAttribute("aria-busy", "false");
    const next = queued && line.value !== submitted && line.value.trim();
    queued = false;
    if (line.value === submitted) show("");
    submitted = null;
    line.focus();
    if (next) setTimeout(() => { if (submitted === null) form.requestSubmit(); }, 0);
  });
  terminalRoot.addEventListener("htmx:after:swap", toBottom);
}

// ---------------------------------------------------------------------------------------------
// The terminal within reach: "/" (when not typing in a field; as on many sites, and no screen
// reader's or browser's own key) and the lab page's "Jump to the terminal" link
// (a[data-focus-terminal]) scroll to the terminal and put the caret in its input.
function focusTerminal() {
  const line = document.getElementById("terminal-line");
  if (!line) return false;
  line.focus({ preventScroll: true });
  (document.getElementById("terminal") || line).scrollIntoView({ block: "nearest" });
  line.scrollIntoView({ block: "nearest" });
  return true;
}
const typingIn = (element) =>
  element instanceof Element && Boolean(element.closest("input, textarea, select, [contenteditable]:not([contenteditable='false'])"));
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
  if (event.defaultPrevented || typingIn(event.target)) return;
  if (focusTerminal()) event.preventDefault();
});
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-focus-terminal]");
  if (link && focusTerminal()) event.preventDefault();
});

// ---------------------------------------------------------------------------------------------
// Focus follows the result of what the learner asked for (a console form, Check, any htmx
// form or button): after its swap, focus moves to the swapped region's first error, else its
// first notice, else its first heading (made focusable with tabindex=-1), so a screen reader
// reads the outcome and the keyboard carries on from there. Polls and loads move nothing, and
// the terminal keeps its own focus (its input) after its swaps.
const RESULT_ORDER = [
  "[role=alert], .notice-error",
  "[aria-invalid=true]",
  ".notice, [role=status]:not(.working):not(:empty)",
  "h2, h3, h4",
];
function swappedRegion(ctx) {
  let target = ctx.target;
  if (typeof target === "string") {
    try {
      target = document.querySelector(target);
    } catch {
      target = null; // an htmx extended selector ("closest ..."): fall back to the source
    }
  }
  // An outerHTML swap replaced the target: its successor has its id.
  if (target instanceof Element && !target.isConnected && target.id) target = document.getElementById(target.id);
  if (target instanceof Element && target.isConnected) return target;
  return ctx.sourceElement instanceof Element && ctx.sourceElement.isConnected ? ctx.sourceElement : null;
}
function resultIn(region) {
  for (const selector of RESULT_ORDER) {
    for (const candidate of region.querySelectorAll(selector)) {
      if (candidate.closest("[hidden], .visually-hidden") || !candidate.getClientRects().length) continue;
      return candidate;
    }
  }
  return null;
}
document.addEventListener("htmx:after:swap", (event) => {
  const ctx = event.detail?.ctx;
  const trigger = ctx?.sourceEvent?.type;
  if (trigger !== "submit" && trigger !== "click") return;
  const region = swappedRegion(ctx);
  if (!region || region.closest("[data-terminal]")) return;
  const active = document.activeElement;
  // The learner went on typing elsewhere (the terminal, another field) while this ran.
  if (active && !region.contains(active) && (active.closest("[data-terminal]") || typingIn(active))) return;
  const result = resultIn(region);
  if (!result) return;
  if (!result.matches("a[href], button, input, select, textarea, [tabindex]")) result.setAttribute("tabindex", "-1");
  result.focus({ preventScroll: true });
  result.scrollIntoView({ block: "nearest" });
});

// Quiz pages are whole pages: an answered question's verdict (or the error saying what is
// missing) gets focus, and so does the next question's heading when "Next" led here.
const quizFocus = () => {
  const verdict = document.getElementById("verdict") || document.getElementById("answer-error");
  const stem = document.querySelector("main form legend.stem");
  let target = verdict;
  if (!target && stem) {
    // From another page of the quiz ("Next question", "Save and next"), not from elsewhere.
    const section = (path) => path.split("/")[1];
    let fromQuiz = false;
    try {
      const from = new URL(document.referrer);
      fromQuiz = from.origin === window.location.origin && section(from.pathname) === section(window.location.pathname);
    } catch {
      fromQuiz = false;
    }
    if (fromQuiz) target = document.querySelector("main h1");
  }
  if (!target) return;
  if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
  target.focus();
};
if (document.readyState === "complete") quizFocus();
else window.addEventListener("load", quizFocus, { once: true });

// Boxes that scroll sideways and are redrawn by polls (the credentials timeline on a phone) keep
// their scroll position across swaps; data-keep-scroll="end" starts them at their right end (now).
// Inside such a box, an SVG group marked data-pin-left (the timeline's key ids) stays at the
// box's left edge while the rest scrolls under it.
const pinLeft = (box) => {
  for (const group of box.querySelectorAll("svg [data-pin-left]")) {
    const svg = group.ownerSVGElement;
    const scale = svg.viewBox.baseVal.width / (svg.getBoundingClientRect().width || 1);
    group.setAttribute("transform", `translate(${(box.scrollLeft * scale).toFixed(1)} 0)`);
  }
};
document.addEventListener(
  "scroll",
  (event) => {
    if (event.target instanceof Element && event.target.matches("[data-keep-scroll]")) pinLeft(event.target);
  },
  true,
);
const keptScroll = new Map();
const restoreScroll = () => {
  for (const box of document.querySelectorAll("[data-keep-scroll][id]")) {
    if (keptScroll.has(box.id)) box.scrollLeft = keptScroll.get(box.id);
    else if (box.dataset.keepScroll === "end") box.scrollLeft = box.scrollWidth;
    pinLeft(box);
  }
};
document.addEventListener("htmx:before:swap", () => {
  for (const box of document.querySelectorAll("[data-keep-scroll][id]")) keptScroll.set(box.id, box.scrollLeft);
});
document.addEventListener("htmx:after:swap", restoreScroll);
restoreScroll();

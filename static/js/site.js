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

// Labs: when the sandbox changes (a console form, a check, the terminal), refresh the parts of
// the page that show it. A console form the learner has started typing into is left alone.
document.addEventListener("input", (event) => {
  event.target.closest(".console-fields")?.setAttribute("data-dirty", "true");
});
document.addEventListener("lab-changed", async (event) => {
  const source = event.detail?.source;
  for (const part of document.querySelectorAll("[data-refresh-url]")) {
    if (part.dataset.dirty === "true" || (source && part.dataset.source === source)) continue;
    try {
      const response = await fetch(part.dataset.refreshUrl, { headers: { "HX-Request": "true" } });
      if (!response.ok) continue;
      const html = await response.text();
      if (part.classList.contains("console-fields")) {
        part.innerHTML = html;
      } else {
        part.outerHTML = html;
      }
    } catch {
      // Offline for a moment: the next change refreshes it.
    }
  }
});

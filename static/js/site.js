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

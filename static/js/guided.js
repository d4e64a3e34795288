// The guided lab page (templates/labs/lab.html): opens at the learner's current step, "Next
// step" links that move focus, Copy and "Run in terminal" on snippets, and console forms whose
// fields follow the role chosen in them. Framework-free, no inline handlers (strict CSP).
"use strict";

(() => {
  const lab = document.querySelector(".lab[data-current-step]");
  if (!lab) return;

  const say = (text) => {
    const region = document.getElementById("announcer");
    if (!region) return;
    region.textContent = "";
    window.setTimeout(() => { region.textContent = text; }, 50);
  };

  // Scroll a step into view and put keyboard focus on its heading.
  const goToStep = (anchor) => {
    const section = document.getElementById(anchor);
    const heading = section?.querySelector("h2");
    if (!heading) return false;
    section.scrollIntoView({ block: "start" });
    heading.focus({ preventScroll: true });
    return true;
  };

  // Open at the current step (step 1 is at the top already), or at the step a link named.
  const opening = window.location.hash.slice(1);
  if (/^step-\d+$/.test(opening)) {
    goToStep(opening);
  } else if (!opening && lab.dataset.currentStep !== "step-1") {
    goToStep(lab.dataset.currentStep);
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-next-step]");
    if (!link) return;
    if (goToStep(link.dataset.nextStep)) {
      event.preventDefault();
      window.history.replaceState(null, "", `#${link.dataset.nextStep}`);
    }
  });

  // A snippet's text with the lab's example ids replaced by the learner's own (the diagram's
  // data-examples, refreshed whenever the sandbox changes).
  const snippetText = (id) => {
    let text = document.getElementById(id)?.textContent ?? "";
    let examples = {};
    try {
      examples = JSON.parse(document.getElementById("lab-diagram")?.dataset.examples || "{}");
    } catch {
      examples = {};
    }
    for (const [example, own] of Object.entries(examples)) text = text.split(example).join(own);
    return text.replace(/\n+$/, "");
  };

  document.addEventListener("click", async (event) => {
    const copy = event.target.closest("[data-snippet-copy]");
    if (!copy) return;
    const label = copy.textContent;
    try {
      await navigator.clipboard.writeText(snippetText(copy.dataset.snippetCopy));
      copy.textContent = "Copied";
      say("Copied to the clipboard.");
    } catch {
      const range = document.createRange();
      range.selectNodeContents(document.getElementById(copy.dataset.snippetCopy));
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      copy.textContent = "Press Ctrl+C";
      say("Text selected. Press Control C to copy.");
    }
    window.setTimeout(() => { copy.textContent = label; }, 2000);
  });

  // Run in terminal: the terminal's own form (templates/terminal/_terminal.html), filled and
  // submitted as if typed, so its history and output work as usual.
  document.addEventListener("click", (event) => {
    const run = event.target.closest("[data-snippet-run]");
    if (!run) return;
    const form = document.getElementById("terminal-form");
    const line = document.getElementById("terminal-line");
    if (!form || !line) return;
    line.value = snippetText(run.dataset.snippetRun);
    line.dispatchEvent(new Event("input", { bubbles: true }));
    document.getElementById("terminal")?.scrollIntoView({ block: "nearest" });
    form.requestSubmit();
    say("Running in the terminal.");
  });

  // A select marked data-follow (a role) reloads the fields around it for the chosen value:
  // "Edit trust policy" shows that role's trust policy, "Add permissions" what it has attached.
  document.addEventListener("change", async (event) => {
    const select = event.target.closest("select[data-follow]");
    const part = select?.closest(".console-fields[data-refresh-url]");
    if (!part) return;
    const base = part.dataset.refreshUrl.split("?")[0];
    const url = `${base}?${new URLSearchParams({ [select.name]: select.value })}`;
    part.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(url, { headers: { "HX-Request": "true" } });
      if (!response.ok) return;
      part.innerHTML = await response.text();
      part.dataset.refreshUrl = url; // later refreshes keep the choice
      delete part.dataset.dirty;
      document.getElementById(select.id)?.focus();
      say(`Showing ${select.value}.`);
    } catch {
      // Offline for a moment: the fields stay as they were.
    } finally {
      part.removeAttribute("aria-busy");
    }
  });
})();

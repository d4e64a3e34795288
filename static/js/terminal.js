// The terminal's extras (templates/terminal/_terminal.html); static/js/site.js runs the lines.
// Full screen: the button, or Escape to leave. Tab: the AWS CLI's completions for an aws line
// (GET data-complete-url); one is put in, several are listed and their common start put in.
// Escape, then Tab, moves focus on as usual, so the field never traps the keyboard.
(() => {
  const root = document.querySelector("[data-terminal]");
  if (!root) return;
  const line = root.querySelector("#terminal-line");
  const form = root.querySelector(".terminal-form");
  const shown = root.querySelector("#terminal-completions");
  const full = root.querySelector("[data-terminal-full]");
  let tabLeaves = false;

  const setFull = (on) => {
    root.classList.toggle("terminal-full", on);
    document.body.classList.toggle("terminal-full-open", on);
    full.setAttribute("aria-pressed", String(on));
    full.textContent = on ? "Exit full screen" : "Full screen";
  };
  full.addEventListener("click", () => {
    setFull(!root.classList.contains("terminal-full"));
    line.focus();
  });

  const commonStart = (words) => words.reduce((common, word) => {
    let index = 0;
    while (index < common.length && common[index] === word[index]) index += 1;
    return common.slice(0, index);
  });

  const complete = async () => {
    const before = line.value.slice(0, line.selectionStart);
    const after = line.value.slice(line.selectionEnd);
    const url = `${form.dataset.completeUrl}?line=${encodeURIComponent(before)}`;
    let words = [];
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (response.ok) words = (await response.json()).completions || [];
    } catch {
      return;
    }
    const partial = before.match(/\S*$/)[0];
    if (!words.length) {
      shown.textContent = "No completions.";
      return;
    }
    const insert = words.length === 1 ? `${words[0]} ` : commonStart(words);
    if (insert.length >= partial.length && insert.startsWith(partial)) {
      const text = before.slice(0, before.length - partial.length) + insert;
      line.value = text + after;
      line.setSelectionRange(text.length, text.length);
    }
    shown.textContent = words.length === 1 ? "" : words.join("  ");
  };

  line.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      if (root.classList.contains("terminal-full")) setFull(false);
      tabLeaves = true;
      shown.textContent = "";
      return;
    }
    if (event.key !== "Tab" || event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) {
      tabLeaves = false;
      return;
    }
    if (tabLeaves || !/^\s*aws(\s|$)/.test(line.value) || line.selectionStart !== line.selectionEnd) return;
    event.preventDefault();
    complete();
  });
  form.addEventListener("submit", () => { shown.textContent = ""; });
})();

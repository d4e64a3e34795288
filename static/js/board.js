// The class board's rows stay put under the pointer and keyboard focus (issue 17.2).
//
// The grid (#board-grid) refreshes itself (live-changed, a minute's poll) and the server sends
// its rows in the chosen sort. While the pointer is over the grid or focus is inside it, the
// rows of a refresh are put back in the order on screen before htmx morphs them in: cells
// update in place, nobody's row slides away under a click. A discreet note says the order
// will update; once the pointer and focus have both left, the grid refreshes in the server's
// order. Under any sort: only the response's row order is touched, never its cells.
(() => {
  const GRID = "board-grid";
  const ROWS = "tbody > tr[id^='member-']";
  let deferred = false;

  const grid = () => document.getElementById(GRID);
  const held = (element) =>
    element.matches(":hover") || element.contains(document.activeElement);
  const ids = (root) => Array.from(root.querySelectorAll(ROWS), (row) => row.id);

  // Returns the response with its rows in the order on screen (new rows after, in the
  // server's order), and whether that differs from the server's order.
  const keepOrder = (text, onScreen) => {
    const doc = new DOMParser().parseFromString(text, "text/html");
    const body = doc.querySelector("tbody");
    if (!body) return [text, false];
    const rows = Array.from(doc.querySelectorAll(ROWS));
    const byId = new Map(rows.map((row) => [row.id, row]));
    const kept = onScreen.filter((id) => byId.has(id)).map((id) => byId.get(id));
    const added = rows.filter((row) => !onScreen.includes(row.id));
    const order = kept.concat(added);
    const moved = order.some((row, index) => row !== rows[index]);
    if (!moved) return [text, false];
    const anchor = rows[0];
    const marker = doc.createComment("rows");
    anchor.parentNode.insertBefore(marker, anchor);
    for (const row of order) marker.parentNode.insertBefore(row, marker);
    marker.remove();
    const caption = doc.querySelector("caption");
    if (caption) {
      const note = doc.createElement("span");
      note.className = "muted board-order-note";
      note.dataset.testid = "order-deferred";
      note.textContent = " Order updates when you move away.";
      caption.append(note);
    }
    return [doc.body.innerHTML, true];
  };

  document.addEventListener("htmx:after:request", (event) => {
    const ctx = event.detail && event.detail.ctx;
    const element = grid();
    if (!ctx || !element || ctx.sourceElement !== element) return;
    if (typeof ctx.text !== "string" || !held(element)) {
      deferred = false;
      return;
    }
    const [text, moved] = keepOrder(ctx.text, ids(element));
    ctx.text = text;
    deferred = moved;
  });

  const release = () => {
    const element = grid();
    if (!deferred || !element || held(element)) return;
    deferred = false;
    element.dispatchEvent(new CustomEvent("live-changed")); // the grid's own refresh
  };
  // pointerleave does not bubble: listen in the capture phase, which every event crosses.
  document.addEventListener(
    "pointerleave",
    (event) => {
      if (event.target && event.target.id === GRID) setTimeout(release, 0);
    },
    true,
  );
  document.addEventListener("focusout", (event) => {
    const element = grid();
    if (!element || !element.contains(event.target)) return;
    if (event.relatedTarget && element.contains(event.relatedTarget)) return;
    setTimeout(release, 0); // once focus has landed outside
  });
})();

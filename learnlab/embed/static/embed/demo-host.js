// The demo host page: what a tutorial author pastes (docs/embedding.md), plus a visible log.
(function () {
  "use strict";
  var frame = document.getElementById("learnlab-frame");
  var log = document.getElementById("learnlab-events");
  var tool = frame.getAttribute("data-tool-origin");
  window.addEventListener("message", function (event) {
    if (event.origin !== tool) return; // only LearnLab's own frame
    var data = event.data || {};
    if (data.source !== "learnlab") return;
    var item = document.createElement("li");
    item.setAttribute("data-event", data.type);
    item.setAttribute("data-step", data.step || "");
    item.textContent = data.type + " " + JSON.stringify(data);
    log.appendChild(item);
  });
})();

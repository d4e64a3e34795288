// The embedded lab page: Check without cookies (the launch token rides in a header), and
// postMessage events to the one host origin allowed to frame the page (never "*").
(function () {
  "use strict";
  var root = document.querySelector("[data-embed-host]");
  if (!root) return;
  var host = root.getAttribute("data-embed-host");
  var header = root.getAttribute("data-embed-header");
  var token = root.getAttribute("data-embed-token");
  var framed = window.parent && window.parent !== window;

  function remember(newToken) {
    // A reload keeps the learner: the fresh token replaces the address's.
    token = newToken;
    var url = new URL(window.location.href);
    url.search = "";
    url.searchParams.set("t", token);
    window.history.replaceState(null, "", url.toString());
    document.querySelectorAll("input[name=token]").forEach(function (input) {
      input.value = token;
    });
  }

  function send(event) {
    if (framed) window.parent.postMessage(event, host);
  }

  function show(box, passed, text) {
    box.textContent = "";
    var p = document.createElement("p");
    p.className = "notice " + (passed ? "notice-success" : "notice-error");
    var strong = document.createElement("strong");
    strong.textContent = passed ? "Passed. " : "Not yet. ";
    p.appendChild(strong);
    p.appendChild(document.createTextNode(text));
    box.appendChild(p);
  }

  document.querySelectorAll("form[data-embed-check]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var box = document.getElementById(form.getAttribute("data-embed-check"));
      var button = form.querySelector("button");
      button.disabled = true;
      var headers = {};
      headers[header] = token;
      fetch(form.action, { method: "POST", headers: headers, credentials: "omit" })
        .then(function (response) {
          return response.json().then(function (data) {
            return { ok: response.ok, data: data };
          });
        })
        .then(function (answer) {
          var data = answer.data;
          if (data.token) remember(data.token);
          if (!answer.ok) {
            show(box, false, data.error || "The check could not run. Try again.");
            return;
          }
          show(box, data.passed, data.message);
          (data.events || []).forEach(send);
        })
        .catch(function () {
          show(box, false, "LearnLab did not answer. Check your connection and try again.");
        })
        .then(function () {
          button.disabled = false;
        });
    });
  });
  remember(token);
  send({ source: "learnlab", type: "embed.ready", lab: root.getAttribute("data-lab") });
})();

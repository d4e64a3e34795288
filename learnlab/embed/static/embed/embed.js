// The embedded lab page: Check without cookies (the launch token rides in a header), and
// postMessage events to the one host origin allowed to frame the page (never "*").
//
// The page also carries the lab page's terminal, console forms and credentials panel, driven by
// htmx and site.js as on the lab page. In a cross-site frame no cookie reaches LearnLab, so every
// request those scripts make to LearnLab goes through the relay (/embed/relay/<path>,
// learnlab/embed/relay.py) with the token in the header and no cookie: fetch is wrapped below,
// before htmx and site.js run (this script comes first).
(function () {
  "use strict";
  var root = document.querySelector("[data-embed-host]");
  if (!root) return;
  var host = root.getAttribute("data-embed-host");
  var header = root.getAttribute("data-embed-header");
  var token = root.getAttribute("data-embed-token");
  var relay = root.getAttribute("data-embed-relay");
  var framed = window.parent && window.parent !== window;
  var completed = false; // lab.completed goes to the host once a page

  function ours(url) {
    // A LearnLab page outside the embed (its own requests and static files are left alone).
    return (
      url.origin === window.location.origin &&
      url.pathname.indexOf("/embed/") !== 0 &&
      url.pathname.indexOf("/static/") !== 0
    );
  }

  function refused(text) {
    var box = document.getElementById("embed-refused");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
  }

  var realFetch = window.fetch.bind(window);
  window.fetch = function (input, init) {
    if (typeof input !== "string" && !(input instanceof URL)) return realFetch(input, init);
    var url = new URL(String(input), window.location.href);
    if (!ours(url)) return realFetch(input, init);
    var options = Object.assign({}, init || {});
    var headers = new Headers(options.headers || {});
    headers.set(header, token);
    options.headers = headers;
    options.credentials = "omit";
    url.pathname = relay + url.pathname.slice(1);
    return realFetch(url.toString(), options).then(function (response) {
      var fresh = response.headers.get("X-LearnLab-Embed-Token");
      if (fresh) remember(fresh);
      if (response.headers.get("X-LearnLab-Embed-Refused")) {
        response.clone().text().then(refused);
      }
      return response;
    });
  };

  // A link to another LearnLab page opens first-party, in a new tab, saying so: the frame keeps
  // the lab (a page outside the embed does not know the frame's learner).
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[href]");
    if (!link || link.target) return;
    var url = new URL(link.getAttribute("href"), window.location.href);
    if (url.origin !== window.location.origin || url.pathname.indexOf("/embed/") === 0) return;
    link.target = "_blank";
    link.rel = "noopener";
    link.title = "Opens LearnLab in a new tab";
  });

  // The credentials panel's own page controls (pause, the cached-credentials demo) belong to
  // the instance's page, not to the frame.
  function trimPanel() {
    var panel = document.getElementById("credentials-panel");
    if (!panel) return;
    panel.querySelectorAll("form:not([hx-post]), a[href*='/sandbox/']").forEach(function (el) {
      el.hidden = true;
    });
  }
  document.addEventListener("htmx:after:swap", trimPanel);

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
    if (event.type === "lab.completed") {
      if (completed) return;
      completed = true;
    }
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
      realFetch(form.action, { method: "POST", headers: headers, credentials: "omit" })
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

// slotwise dashboard: progressive enhancement only; every page works without it.
// Elements with data-refresh="URL" reload their content from URL every few seconds.
(function () {
  "use strict";
  function refresh(el) {
    var url = el.getAttribute("data-refresh");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { el.innerHTML = html; } })
      .catch(function () { /* keep the last content */ });
  }
  document.querySelectorAll("[data-refresh]").forEach(function (el) {
    var every = parseInt(el.getAttribute("data-every") || "5000", 10);
    setInterval(function () { refresh(el); }, every);
  });
})();

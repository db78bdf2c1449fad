// Live updates for the caseworker console: server-sent events say that something changed; the
// page re-reads its live regions ([data-live]) and announces the change to screen readers.
(function () {
  "use strict";
  var regions = document.querySelectorAll("[data-live]");
  if (!regions.length || !window.EventSource) return;
  var announcer = document.getElementById("announcer");

  function refresh(region) {
    fetch(region.getAttribute("data-live"), { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/console/login"); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null) return;
        region.innerHTML = html;
        if (announcer) announcer.textContent = region.getAttribute("data-announce") || "";
      });
  }

  var events = new EventSource("/console/events");
  events.onmessage = function (message) {
    var event = JSON.parse(message.data);
    regions.forEach(function (region) {
      var only = region.getAttribute("data-conversation");
      if (!only || only === event.conversation) refresh(region);
    });
  };
})();

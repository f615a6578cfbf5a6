// Infrastream CD Portal: live updates without a reload.
//
// Every few seconds, while the tab is visible and nobody is typing into a form, the page asks
// its own URL again and swaps in the new <main> when it differs. Served by the binary itself
// (no build chain, no third-party code); the Content-Security-Policy allows only this origin's
// scripts, so this file is the whole of the Portal's JavaScript.
(function () {
  "use strict";
  var PERIOD_MS = 3000;
  var main = document.getElementById("main");
  if (!main || main.getAttribute("data-live") !== "on") {
    return;
  }

  function busy() {
    var active = document.activeElement;
    if (active && main.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) {
      return true;
    }
    var fields = main.querySelectorAll("input[type=text], textarea");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value !== "") {
        return true;
      }
    }
    return false;
  }

  function refresh() {
    if (document.visibilityState !== "visible" || busy()) {
      return;
    }
    // Redirects are not followed: once the session ends the page would be sent to sign in,
    // and a poll must never start a sign-in (it would replace one under way in another tab).
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store", redirect: "manual" })
      .then(function (response) {
        // A lost session or an error page is left for the next real navigation to show.
        if (!response.ok || response.type === "opaqueredirect") {
          return null;
        }
        return response.text();
      })
      .then(function (text) {
        if (text === null || busy()) {
          return;
        }
        var next = new DOMParser().parseFromString(text, "text/html").getElementById("main");
        if (next && next.innerHTML !== main.innerHTML) {
          main.innerHTML = next.innerHTML;
        }
      })
      .catch(function () {
        // The service may be restarting: try again at the next tick.
      });
  }

  window.setInterval(refresh, PERIOD_MS);
})();

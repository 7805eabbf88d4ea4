// Renders Cloudflare Turnstile widgets (div.cf-turnstile[data-sitekey]) explicitly: at start, once
// Cloudflare's api.js has loaded (it calls window.sluiceTurnstileReady), and in content HTMX swaps in.
// A file, not an inline script: the CSP forbids inline scripts.
(function () {
  "use strict";

  function renderAll(root) {
    if (!window.turnstile) return;
    (root || document).querySelectorAll(".cf-turnstile:not([data-turnstile-rendered])").forEach(function (el) {
      el.setAttribute("data-turnstile-rendered", "true");
      window.turnstile.render(el);
    });
  }

  window.sluiceTurnstileReady = function () { renderAll(document); };
  document.addEventListener("htmx:load", function (event) { renderAll(event.target); });
})();

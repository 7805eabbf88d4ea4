// Sluice pages: toasts, copy buttons, local times, JSON field checks, "select all" boxes.
// Loaded as a file (the CSP forbids inline scripts); behaviour hangs off data-* attributes.
(function () {
  "use strict";

  var LEVELS = { success: 1, danger: 1, warning: 1, info: 1 };

  function showToast(message, level) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    level = LEVELS[level] ? level : "info";
    var toast = document.createElement("div");
    toast.className = "toast align-items-center border-0 text-bg-" + level;
    toast.setAttribute("role", level === "danger" ? "alert" : "status");
    var row = document.createElement("div");
    row.className = "d-flex";
    var body = document.createElement("div");
    body.className = "toast-body";
    body.textContent = message; // text, never HTML
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close btn-close-white me-2 m-auto";
    close.setAttribute("data-bs-dismiss", "toast");
    close.setAttribute("aria-label", "Close");
    row.appendChild(body);
    row.appendChild(close);
    toast.appendChild(row);
    box.appendChild(toast);
    if (window.bootstrap) {
      var t = new window.bootstrap.Toast(toast, { delay: level === "danger" ? 8000 : 4000 });
      toast.addEventListener("hidden.bs.toast", function () { toast.remove(); });
      t.show();
    } else {
      toast.classList.add("show");
    }
  }
  window.sluiceToast = showToast;

  // HX-Trigger: {"toast": {"message": "...", "level": "success"}}
  document.addEventListener("toast", function (event) {
    var d = event.detail || {};
    showToast(d.message || d.value, d.level);
  });

  // An error answer is not swapped in; its message (the errors/_error.html fragment) becomes a toast.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var text = "";
    try {
      var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
      var alert = doc.querySelector("[role=alert]");
      text = (alert ? alert.textContent : doc.body.textContent || "").trim();
    } catch (e) { text = ""; }
    showToast(text.slice(0, 300) || ("HTTP " + xhr.status), "danger");
  });
  document.addEventListener("htmx:sendError", function () {
    showToast(document.body.getAttribute("data-network-error") || "Network error", "danger");
  });

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy") ? resolve() : reject(new Error("copy failed")); }
      catch (e) { reject(e); }
      finally { area.remove(); }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var text = button.getAttribute("data-copy");
    copyText(text).then(function () {
      var label = button.getAttribute("data-copied-label") || "Copied";
      button.setAttribute("data-copied", "true");
      showToast(label, "success");
    }, function () {
      showToast(text, "warning");
    });
  });

  // <input type=checkbox data-check-all="ids"> toggles every checkbox named "ids" in the same form.
  document.addEventListener("change", function (event) {
    var box = event.target.closest("[data-check-all]");
    if (!box) return;
    var scope = box.form || document;
    scope.querySelectorAll('input[type=checkbox][name="' + box.getAttribute("data-check-all") + '"]')
      .forEach(function (item) { item.checked = box.checked; });
  });

  // <button data-set-amount="50" data-target="#id"> fills that input and fires "input" (so HTMX re-quotes).
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-set-amount]");
    if (!button) return;
    var input = document.querySelector(button.getAttribute("data-target"));
    if (!input) return;
    input.value = button.getAttribute("data-set-amount");
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });

  // <textarea data-json="object"> shows whether it holds a JSON object while the user types.
  function checkJson(area) {
    var feedback = area.parentElement.querySelector(".json-feedback");
    var value = area.value.trim();
    var problem = "";
    if (value) {
      try {
        var parsed = JSON.parse(value);
        if (area.getAttribute("data-json") === "object" &&
            (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))) {
          problem = area.getAttribute("data-json-object-message") || "Must be a JSON object";
        }
      } catch (e) { problem = e.message; }
    }
    area.classList.toggle("is-invalid", !!problem);
    area.setCustomValidity(problem);
    if (feedback) feedback.textContent = problem;
  }
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("textarea[data-json]")) checkJson(event.target);
  });

  function localTimes(root) {
    root.querySelectorAll("time[data-ts]").forEach(function (el) {
      var ts = parseInt(el.getAttribute("data-ts"), 10);
      if (!ts || el.hasAttribute("data-localised")) return;
      var d = new Date(ts * 1000);
      var pad = function (n) { return String(n).padStart(2, "0"); };
      var text = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
        pad(d.getHours()) + ":" + pad(d.getMinutes());
      if (!el.hasAttribute("data-short")) text += ":" + pad(d.getSeconds());
      el.textContent = text;
      el.title = d.toISOString();
      el.setAttribute("data-localised", "");
    });
  }

  function autoHideFlashes(root) {
    if (!window.bootstrap) return;
    root.querySelectorAll(".toast.show[data-autohide]").forEach(function (el) {
      el.removeAttribute("data-autohide");
      window.setTimeout(function () { window.bootstrap.Toast.getOrCreateInstance(el).hide(); }, 5000);
    });
  }

  function init(root) {
    localTimes(root);
    autoHideFlashes(root);
  }

  if (window.htmx) {
    window.htmx.onLoad(init);
  } else {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  }
})();

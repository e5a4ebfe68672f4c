// Progressive enhancement only: every control works without this file.
(function () {
  "use strict";
  document.documentElement.classList.replace("no-js", "js");

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("select[data-autosubmit]")) { el.form.requestSubmit(); }
  });

  // License stepper: − and + change the number here, and the form's change event asks the
  // server for a new summary (hx-sync keeps only the newest answer).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-step]");
    if (!button) { return; }
    var input = document.getElementById(button.getAttribute("aria-controls"));
    if (!input) { return; }
    event.preventDefault();
    var current = parseInt(input.value, 10);
    if (isNaN(current)) { current = parseInt(input.min || "1", 10); }
    var next = current + parseInt(button.getAttribute("data-step"), 10);
    var min = parseInt(input.min || "1", 10), max = parseInt(input.max || "10000", 10);
    input.value = String(Math.min(max, Math.max(min, next)));
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });

  // Live summary: from the moment a choice changes until the server's summary for it arrives
  // (it swaps in a fresh button), the order button would order figures nobody has seen.
  function summaryIsStale(event) {
    var form = event.target.form;
    if (!form || !form.hasAttribute("data-live-form")) { return; }
    form.querySelectorAll("[data-order-button]").forEach(function (button) {
      button.disabled = true;
      button.setAttribute("aria-disabled", "true");
    });
    var summary = document.getElementById("order-summary");
    if (summary) { summary.setAttribute("aria-busy", "true"); }
  }
  document.addEventListener("input", summaryIsStale);
  document.addEventListener("change", summaryIsStale);

  // An error summary at the top of a page that was sent back takes the focus, so that the
  // keyboard and a screen reader start from the list of what to fix.
  function focusErrorSummary(root) {
    var summary = root.querySelector && root.querySelector("[data-focus-on-load]");
    if (summary) { summary.focus(); }
  }
  document.addEventListener("DOMContentLoaded", function () { focusErrorSummary(document); });
  document.addEventListener("htmx:afterSettle", function (event) {
    focusErrorSummary(event.detail.elt.parentNode || document);
  });

  // Enter in a live form's field refreshes the summary instead of posting the page.
  document.addEventListener("keydown", function (event) {
    var el = event.target;
    if (event.key !== "Enter" || el.tagName !== "INPUT" || !el.form ||
        !el.form.hasAttribute("data-live-form")) { return; }
    event.preventDefault();
    el.dispatchEvent(new Event("change", { bubbles: true }));
  });

  // The "being processed" page's poll (data-poll-retry-ms): an ask that got no answer (a
  // dropped connection; none within hx-request's timeout) or a proxy's error page instead
  // of the portal's swaps nothing, and is asked again a little later ("poll-retry" is one of
  // its triggers). An answer that is swapped in or redirects ends it as before.
  function retryPoll(event) {
    var poll = event.detail.elt;
    if (!poll || !poll.hasAttribute || !poll.hasAttribute("data-poll-retry-ms")) { return false; }
    var wait = parseInt(poll.getAttribute("data-poll-retry-ms"), 10) || 2000;
    setTimeout(function () {
      if (document.body.contains(poll)) { htmx.trigger(poll, "poll-retry"); }
    }, wait);
    return true;
  }
  document.addEventListener("htmx:sendError", retryPoll);
  document.addEventListener("htmx:timeout", retryPoll);
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status >= 500 && retryPoll(event)) { event.detail.shouldSwap = false; }
  });

  // Options menus (<details>): close with Escape and when clicking elsewhere.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    document.querySelectorAll("details.options-menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    });
  });
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.options-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) { menu.removeAttribute("open"); }
    });
  });
})();

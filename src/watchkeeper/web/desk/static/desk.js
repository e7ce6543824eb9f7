// watchkeeper's web desk: every element with data-live="URL" is fetched again (htmx) when the
// server's event stream says an incident or a case changed. No reload, no polling by the page.
(function () {
  var csrf = document.querySelector('meta[name="csrf-token"]');
  if (csrf) {
    document.body.addEventListener("htmx:configRequest", function (e) { e.detail.headers["X-CSRF-Token"] = csrf.content; });
  }
  if (!document.querySelector("[data-live]") || !window.EventSource) return;
  var pending = false;
  function refresh() {
    pending = false;
    document.querySelectorAll("[data-live]").forEach(function (el) {
      if (el.contains(document.activeElement) && document.activeElement.tagName === "TEXTAREA") return;
      htmx.ajax("GET", el.getAttribute("data-live"), { target: el, swap: "outerHTML" });
    });
  }
  var stream = new EventSource("/events");
  stream.addEventListener("change", function () {
    if (!pending) { pending = true; setTimeout(refresh, 50); }
  });
  stream.addEventListener("open", function () { document.documentElement.dataset.live = "on"; });
})();

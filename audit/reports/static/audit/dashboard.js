// Stream health on the dashboard, refreshed every few seconds from the JSON endpoint.
"use strict";

(function () {
  const script = document.currentScript;
  const url = script.dataset.healthUrl;
  const tbody = document.querySelector("#stream-health tbody");
  const updated = document.querySelector("#health-updated");
  const { when, number } = window.assistgovWords;

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined || text === "" ? "-" : String(text);
    if (className) td.className = className;
    return td;
  }

  async function refresh() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const { streams } = await response.json();
      tbody.replaceChildren(
        ...streams.map((s) => {
          const tr = document.createElement("tr");
          tr.append(
            cell(s.name),
            cell(s.state.charAt(0).toUpperCase() + s.state.slice(1), "state-" + s.state),
            cell(when(s.last_frame_at)),
            cell(number(s.reconnects), "number"),
            cell(number(s.insights_stored), "number"),
            cell(number(s.quarantined), "number"),
            cell(s.last_error),
          );
          return tr;
        }),
      );
      updated.textContent = "updated " + when(new Date());
    } catch (error) {
      updated.textContent = "not updated: " + error.message;
    }
  }

  // The window is applied as soon as it is chosen (no inline handler: the CSP allows none).
  for (const select of document.querySelectorAll("select[data-submit-on-change]")) {
    select.addEventListener("change", () => select.form.submit());
  }

  refresh();
  setInterval(refresh, 3000);
})();

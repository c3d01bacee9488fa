// The live review queue: a WebSocket snapshot, then batched updates; keyboard first.
// Text from outside is only ever set with textContent, never parsed as HTML.
"use strict";

(function () {
  const MAX_ROWS = 500;
  const STATUS_LABELS = { pending: "Pending", approved: "Approved", rejected: "Rejected", filtered: "Filtered" };

  const state = {
    rows: new Map(),
    order: [],
    selected: null,
    canReview: false,
    more: false,
    socket: null,
    retry: 0,
    filters: {},
  };

  const $ = (selector) => document.querySelector(selector);
  const filtersForm = $("#filters");
  const tbody = $("#queue tbody");
  const note = $("#note");
  const reasons = $("#reasons");
  const help = $("#help");

  function readFilters() {
    const data = new FormData(filtersForm);
    const filters = {};
    for (const [key, value] of data.entries()) {
      if (value !== "") filters[key] = value;
    }
    return filters;
  }

  function updateCsvLink() {
    const link = $("#csv-link");
    const params = new URLSearchParams(state.filters);
    link.href = link.href.split("?")[0] + (params.toString() ? "?" + params.toString() : "");
  }

  function compare(a, b) {
    return a.confidence - b.confidence || a.id - b.id;
  }

  function visible(row) {
    return state.filters.status === "all" || row.status === (state.filters.status || "pending");
  }

  function setRows(rows) {
    state.rows = new Map(rows.map((row) => [row.id, row]));
    reorder();
  }

  function reorder() {
    state.order = [...state.rows.values()].sort(compare).map((row) => row.id);
    if (state.order.length > MAX_ROWS) {
      // The page stays bounded: the highest confidences wait for the next snapshot.
      for (const id of state.order.slice(MAX_ROWS)) state.rows.delete(id);
      state.order = state.order.slice(0, MAX_ROWS);
      state.more = true;
    }
    if (state.selected !== null && !state.rows.has(state.selected)) state.selected = null;
    if (state.selected === null && state.order.length) state.selected = state.order[0];
    render();
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (className) td.className = className;
    return td;
  }

  function localTime(iso) {
    return iso ? new Date(iso).toLocaleString() : "";
  }

  function render() {
    const fragment = document.createDocumentFragment();
    for (const id of state.order) {
      const row = state.rows.get(id);
      const tr = document.createElement("tr");
      tr.dataset.id = String(id);
      tr.className = "status-" + row.status + (id === state.selected ? " selected" : "");
      tr.append(
        cell(row.confidence.toFixed(3), "number"),
        cell(row.insight_type),
        cell(row.snippet, "snippet"),
        cell(row.interaction_id),
        cell(row.stream),
        cell(localTime(row.received_at)),
        cell(STATUS_LABELS[row.status] || row.status),
      );
      tr.addEventListener("click", () => select(id));
      fragment.append(tr);
    }
    tbody.replaceChildren(fragment);
    const shown = state.order.length;
    $("#queue-summary").textContent = shown
      ? `${shown}${state.more ? "+" : ""} insight(s), lowest confidence first`
      : "No insights match these filters.";
    renderSelected();
  }

  function renderSelected() {
    const box = $("#selected");
    const row = state.rows.get(state.selected);
    if (!row) {
      box.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: "Nothing selected." }));
      return;
    }
    const dl = document.createElement("dl");
    const fields = [
      ["Insight type", row.insight_type],
      ["Confidence", row.confidence.toFixed(3)],
      ["Relevance", row.relevance.toFixed(3)],
      ["Interaction id", row.interaction_id],
      ["Stream", row.stream],
      ["Received", localTime(row.received_at)],
      ["Status", STATUS_LABELS[row.status] || row.status],
    ];
    if (row.status !== "pending") {
      fields.push(["Decided by", row.reviewed_by], ["Decided at", localTime(row.reviewed_at)]);
      if (row.reason_code) fields.push(["Reason code", row.reason_code]);
      if (row.note) fields.push(["Note", row.note]);
    }
    for (const [label, value] of fields) {
      dl.append(
        Object.assign(document.createElement("dt"), { textContent: label }),
        Object.assign(document.createElement("dd"), { textContent: value ?? "" }),
      );
    }
    const snippet = Object.assign(document.createElement("p"), { className: "snippet-full", textContent: row.snippet });
    box.replaceChildren(snippet, dl);
    const selectedRow = tbody.querySelector(`tr[data-id="${row.id}"]`);
    if (selectedRow) selectedRow.scrollIntoView({ block: "nearest" });
  }

  function select(id) {
    state.selected = id;
    closeReasons();
    render();
  }

  function move(step) {
    if (!state.order.length) return;
    const index = state.order.indexOf(state.selected);
    const next = Math.min(state.order.length - 1, Math.max(0, (index === -1 ? 0 : index + step)));
    select(state.order[next]);
  }

  function toast(message, kind) {
    const item = Object.assign(document.createElement("div"), { className: "toast " + (kind || "info"), textContent: message });
    $("#toasts").append(item);
    setTimeout(() => item.remove(), 6000);
  }

  function applyDecisions(rows, announce) {
    for (const row of rows) {
      const wasSelected = row.id === state.selected;
      if (visible(row)) {
        state.rows.set(row.id, row);
      } else if (state.rows.has(row.id)) {
        if (wasSelected) {
          const index = state.order.indexOf(row.id);
          state.selected = state.order[index + 1] ?? state.order[index - 1] ?? null;
        }
        state.rows.delete(row.id);
      }
      if (announce && wasSelected) {
        toast(`Insight ${row.id} was ${row.status} by ${row.reviewed_by} meanwhile.`, "warning");
      }
    }
    reorder();
  }

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(message));
      return true;
    }
    toast("Not connected: the decision was not sent. Reconnecting…", "error");
    return false;
  }

  function decide(decision, reasonCode) {
    if (!state.canReview) {
      toast("Your role cannot decide insights.", "error");
      return;
    }
    if (state.selected === null) return;
    const message = { type: "decide", id: state.selected, decision, note: note.value };
    if (decision === "reject") message.reason_code = reasonCode;
    if (send(message)) {
      note.value = "";
      closeReasons();
    }
  }

  function openReasons() {
    if (!state.canReview) {
      toast("Your role cannot decide insights.", "error");
      return;
    }
    if (state.selected === null) return;
    reasons.hidden = false;
  }

  function closeReasons() {
    reasons.hidden = true;
    for (const input of reasons.querySelectorAll("input")) input.checked = false;
  }

  function confirmReject() {
    const chosen = reasons.querySelector("input:checked");
    if (!chosen) {
      toast("Choose a reason (1–9) to reject.", "error");
      return;
    }
    decide("reject", chosen.value);
  }

  function onMessage(event) {
    const message = JSON.parse(event.data);
    switch (message.type) {
      case "snapshot":
        state.canReview = message.can_review;
        state.more = message.more;
        setRows(message.insights);
        break;
      case "insights":
        for (const row of message.insights) state.rows.set(row.id, row);
        reorder();
        break;
      case "decisions":
        applyDecisions(message.insights, true);
        break;
      case "decided":
        applyDecisions(message.insights, false);
        for (const row of message.insights) toast(`Insight ${row.id} ${row.status}.`, "ok");
        break;
      case "conflict":
        applyDecisions(message.insights, false);
        toast(message.message, "warning");
        break;
      case "error":
        toast(message.message, "error");
        break;
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/review/`);
    state.socket = socket;
    $("#connection").textContent = "connecting…";
    socket.addEventListener("open", () => {
      state.retry = 0;
      $("#connection").textContent = "live";
      $("#connection").className = "connection live";
      socket.send(JSON.stringify({ type: "subscribe", filters: state.filters }));
    });
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", (event) => {
      $("#connection").className = "connection down";
      if (event.code === 4403) {
        $("#connection").textContent = "not allowed: log in again";
        return;
      }
      // Reconnect with backoff, then resubscribe: the snapshot resyncs the page.
      const delay = Math.min(10000, 500 * 2 ** state.retry++) * (0.5 + Math.random() / 2);
      $("#connection").textContent = `reconnecting in ${Math.round(delay / 1000)} s…`;
      setTimeout(connect, delay);
    });
  }

  function resubscribe() {
    state.filters = readFilters();
    updateCsvLink();
    send({ type: "subscribe", filters: state.filters });
  }

  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT");
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") {
      help.hidden = true;
      closeReasons();
      if (typing(event.target)) event.target.blur();
      return;
    }
    if (!reasons.hidden && event.key === "Enter") {
      event.preventDefault();
      confirmReject();
      return;
    }
    if (typing(event.target)) return;
    if (!reasons.hidden && /^[1-9]$/.test(event.key)) {
      const input = reasons.querySelectorAll("input")[Number(event.key) - 1];
      if (input) input.checked = true;
      return;
    }
    const actions = {
      j: () => move(1),
      ArrowDown: () => move(1),
      k: () => move(-1),
      ArrowUp: () => move(-1),
      a: () => decide("approve"),
      r: () => openReasons(),
      n: () => note.focus(),
      "?": () => { help.hidden = !help.hidden; },
    };
    if (actions[event.key]) {
      event.preventDefault();
      actions[event.key]();
    }
  });

  $("#approve").addEventListener("click", () => decide("approve"));
  $("#reject").addEventListener("click", openReasons);
  $("#confirm-reject").addEventListener("click", confirmReject);
  $("#cancel-reject").addEventListener("click", closeReasons);
  filtersForm.addEventListener("change", resubscribe);
  filtersForm.addEventListener("submit", (event) => { event.preventDefault(); resubscribe(); });

  state.filters = readFilters();
  updateCsvLink();
  connect();
})();

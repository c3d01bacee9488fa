// The live review queue: a WebSocket snapshot, then batched updates; keyboard first.
// Items are insights and knowledge answers, keyed "insight:12" / "knowledge:7".
// Text from outside is only ever set with textContent, never parsed as HTML.
"use strict";

(function () {
  const MAX_ROWS = 500;
  const STATUS_LABELS = { pending: "Pending", approved: "Approved", rejected: "Rejected", filtered: "Filtered" };
  const KIND_LABELS = { insight: "Insight", knowledge: "Knowledge answer" };

  const state = {
    rows: new Map(),
    order: [],
    selected: null,
    canDecide: [],
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

  // Insights export with the page's filters; knowledge answers have their own export.
  function updateCsvLink() {
    const link = $("#csv-link");
    const stream = filtersForm.elements.stream;
    const knowledgeStream = (state.filters.stream || "").startsWith("knowledge:");
    let params;
    if (knowledgeStream || state.filters.insight_type === link.dataset.knowledgeType) {
      params = new URLSearchParams();
      if (knowledgeStream) params.set("stream", stream.options[stream.selectedIndex].text);
      if (state.filters.status && state.filters.status !== "all") params.set("review_status", state.filters.status);
      link.href = link.dataset.knowledge;
    } else {
      params = new URLSearchParams(state.filters);
      link.href = link.dataset.insights;
    }
    if (params.toString()) link.href += "?" + params.toString();
  }

  // The server's order: lowest confidence first (none before all), then kind, then id.
  function compare(a, b) {
    const ca = a.confidence ?? -1;
    const cb = b.confidence ?? -1;
    return ca - cb || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0) || a.id - b.id;
  }

  function confidenceText(value) {
    return value === null || value === undefined ? "—" : value.toFixed(3);
  }

  function visible(row) {
    return state.filters.status === "all" || row.status === (state.filters.status || "pending");
  }

  function setRows(rows) {
    state.rows = new Map(rows.map((row) => [row.key, row]));
    reorder();
  }

  function reorder() {
    state.order = [...state.rows.values()].sort(compare).map((row) => row.key);
    if (state.order.length > MAX_ROWS) {
      // The page stays bounded: the highest confidences wait for the next snapshot.
      for (const key of state.order.slice(MAX_ROWS)) state.rows.delete(key);
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
    for (const key of state.order) {
      const row = state.rows.get(key);
      const tr = document.createElement("tr");
      tr.dataset.key = key;
      tr.className = `status-${row.status} kind-${row.kind}` + (key === state.selected ? " selected" : "");
      tr.append(
        cell(confidenceText(row.confidence), "number"),
        cell(row.kind === "knowledge" ? "knowledge answer" : row.insight_type),
        cell(row.snippet, "snippet"),
        cell(row.interaction_id),
        cell(row.stream),
        cell(localTime(row.received_at)),
        cell(STATUS_LABELS[row.status] || row.status),
      );
      tr.addEventListener("click", () => select(key));
      fragment.append(tr);
    }
    tbody.replaceChildren(fragment);
    const shown = state.order.length;
    $("#queue-summary").textContent = shown
      ? `${shown}${state.more ? "+" : ""} item(s), lowest confidence first`
      : "Nothing matches these filters.";
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
    const fields = row.kind === "knowledge" ? knowledgeFields(row) : [
      ["Insight type", row.insight_type],
      ["Confidence", confidenceText(row.confidence)],
      ["Relevance", confidenceText(row.relevance)],
      ["Interaction id", row.interaction_id],
      ["Stream", row.stream],
      ["Received", localTime(row.received_at)],
    ];
    fields.push(["Status", STATUS_LABELS[row.status] || row.status]);
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
    const heading = Object.assign(document.createElement("p"), { className: "kind", textContent: `${KIND_LABELS[row.kind]} ${row.id}` });
    const snippet = Object.assign(document.createElement("p"), { className: "snippet-full", textContent: row.snippet });
    const parts = [heading, snippet, dl];
    if (row.kind === "knowledge") parts.push(resultList(row.knowledge));
    box.replaceChildren(...parts);
    const selectedRow = tbody.querySelector(`tr[data-key="${CSS.escape(row.key)}"]`);
    if (selectedRow) selectedRow.scrollIntoView({ block: "nearest" });
  }

  function knowledgeFields(row) {
    const knowledge = row.knowledge;
    const fields = [
      ["Best confidence", confidenceText(row.confidence)],
      ["Governance", knowledge.governance_status],
      ["Conversation id", row.interaction_id],
      ["Knowledge stream", row.stream],
      ["Origin", knowledge.origin],
      ["Asked by", knowledge.requested_by],
    ];
    fields.push(
      ["Filtered results", String(knowledge.filtered)],
      ["Cache hit", knowledge.cache_hit ? "yes" : "no"],
      ["Asked at", localTime(row.received_at)],
    );
    return fields;
  }

  // The results the agent received, in rank order; urls are shown as text, not followed.
  function resultList(knowledge) {
    const list = Object.assign(document.createElement("ol"), { className: "results" });
    for (const result of knowledge.results) {
      const item = document.createElement("li");
      const title = Object.assign(document.createElement("strong"), { textContent: result.title });
      const meta = Object.assign(document.createElement("span"), {
        className: "muted",
        textContent: ` ${confidenceText(result.confidence)} · ${result.knowledge_base_id}`,
      });
      const text = Object.assign(document.createElement("p"), { textContent: result.snippet });
      const url = Object.assign(document.createElement("p"), { className: "url muted", textContent: result.url });
      item.append(title, meta, text, url);
      list.append(item);
    }
    if (!knowledge.results.length) list.append(Object.assign(document.createElement("li"), { textContent: "No result passed." }));
    const section = document.createElement("section");
    section.append(Object.assign(document.createElement("h3"), { textContent: "Results the agent was given" }), list);
    return section;
  }

  function select(key) {
    state.selected = key;
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
      const wasSelected = row.key === state.selected;
      if (visible(row)) {
        state.rows.set(row.key, row);
      } else if (state.rows.has(row.key)) {
        if (wasSelected) {
          const index = state.order.indexOf(row.key);
          state.selected = state.order[index + 1] ?? state.order[index - 1] ?? null;
        }
        state.rows.delete(row.key);
      }
      if (announce && wasSelected) {
        toast(`${KIND_LABELS[row.kind]} ${row.id} was ${row.status} by ${row.reviewed_by} meanwhile.`, "warning");
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

  // The selected row, when the user's role may decide its kind (else a message says why).
  function decidable() {
    const row = state.rows.get(state.selected);
    if (!row) return null;
    if (!state.canDecide.includes(row.kind)) {
      toast(`Your role cannot decide ${KIND_LABELS[row.kind].toLowerCase()}s.`, "error");
      return null;
    }
    return row;
  }

  function decide(decision, reasonCode) {
    const row = decidable();
    if (!row) return;
    const message = { type: "decide", kind: row.kind, id: row.id, decision, note: note.value };
    if (decision === "reject") message.reason_code = reasonCode;
    if (send(message)) {
      note.value = "";
      closeReasons();
    }
  }

  function openReasons() {
    if (!decidable()) return;
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
        state.canDecide = message.can_decide;
        state.more = message.more;
        setRows(message.items);
        break;
      case "items":
        for (const row of message.items) state.rows.set(row.key, row);
        reorder();
        break;
      case "decisions":
        applyDecisions(message.items, true);
        break;
      case "decided":
        applyDecisions(message.items, false);
        for (const row of message.items) toast(`${KIND_LABELS[row.kind]} ${row.id} ${row.status}.`, "ok");
        break;
      case "conflict":
        applyDecisions(message.items, false);
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

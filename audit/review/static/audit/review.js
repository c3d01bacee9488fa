// The review workspace: one page of the queue at a time, keyboard first.
//
// The page never moves under the cursor: new items are counted in a bar ("12 new items -
// show them"), decisions and claims made elsewhere change the rows in place, and a decision
// made here is shown at once ("Approving...") and confirmed when the server has it. A
// decision typed while the socket reconnects waits in `state.outbox` and is sent once it is
// back, with its own id, so a resend is never a second decision.
//
// Items are insights and knowledge answers, keyed "insight:12" / "knowledge:7". Text from
// outside is only ever set with textContent, never parsed as HTML.
"use strict";

(function () {
  const root = document.getElementById("review");
  const $ = (selector) => document.querySelector(selector);
  const $$ = (selector) => Array.from(document.querySelectorAll(selector));

  const STATUS_LABELS = {
    pending: "Pending",
    approved: "Approved",
    rejected: "Rejected",
    filtered: "Filtered",
    second_review: "Decided: waiting for a blind second review",
  };
  const KIND_LABELS = { insight: "Insight", knowledge: "Knowledge answer", group: "Group" };
  const FILTER_NAMES = ["stream", "insight_type", "search", "min_confidence", "max_confidence", "status", "sort"];
  const ME = root.dataset.me;
  const CONTEXT_URL = document.currentScript.dataset.contextUrl;
  const reasonCodes = JSON.parse($("#reason-codes").textContent);
  const reasonLabels = Object.fromEntries(reasonCodes.map((r) => [r.code, r.label]));

  const state = {
    rows: new Map(), // key -> row, the rows of the page shown
    order: [], // the page's keys, in the page's order
    tr: new Map(), // key -> its <tr>
    selected: null,
    picked: new Set(), // keys selected for a bulk decision
    allMatching: false, // the bulk decision is for every item the filters match
    lastPicked: null,
    page: { count: 0 },
    filters: {},
    scope: "queue",
    pageRequest: {}, // {after}, {before} or {last: true}: what the page shown asked for
    outbox: new Map(), // decision_id -> {key, message}: decisions not yet confirmed
    newKeys: new Set(),
    arrived: null, // the new items "Show them" asked for, until their page arrives
    arrivedKeys: new Set(), // those of them this page shows
    canDecide: [],
    canAssign: false,
    socket: null,
    retry: 0,
    contextTimer: null,
    context: new Map(),
    bulk: null,
    editing: false,
  };

  const filtersForm = $("#filters");
  const tbody = $("#queue tbody");
  const note = $("#note");
  const correction = $("#correction");
  const reasons = $("#reasons");
  const picking = Boolean($("#bulk"));

  // Words people read

  // One date format everywhere: 2026-11-30 10:45 UTC (the user's time zone, with its name).
  const { when, number } = window.assistgovWords;

  const TYPE_LABELS = JSON.parse($("#type-labels").textContent);
  const TYPE_MEANINGS = JSON.parse($("#type-meanings").textContent);

  function typeLabel(row) {
    if (TYPE_LABELS[row.insight_type]) return TYPE_LABELS[row.insight_type];
    if (row.kind === "knowledge" || row.insight_type === "knowledge.answer") return "Knowledge answer";
    const words = String(row.insight_type).replace(/[_.]+/g, " ").trim();
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  // An item as people name it: its type and conversation, with its number for reference.
  function itemName(row) {
    const where = row.interaction_id ? ` in ${row.interaction_id}` : "";
    return `${typeLabel(row)}${where} (no. ${row.id})`;
  }

  function confidenceText(value) {
    return value === null || value === undefined ? "none" : value.toFixed(2);
  }

  function claimText(row) {
    if (!row.claimed_by) return "";
    const who = row.claimed_by === ME ? "you" : row.claimed_by;
    return `Claimed by ${who} until ${when(row.claimed_until).slice(11)}`;
  }

  // The address holds the filters, sort, tab and page: a view can be bookmarked and shared.

  function readAddress() {
    const params = new URLSearchParams(location.search);
    for (const name of FILTER_NAMES) {
      const field = filtersForm.elements[name];
      if (!field || !params.has(name)) continue;
      const value = params.get(name);
      // A shared address may name a type or stream this page does not list: keep it.
      if (field.tagName === "SELECT" && value && ![...field.options].some((o) => o.value === value)) {
        const text = name === "insight_type" ? typeLabel({ insight_type: value }) : value;
        field.append(Object.assign(document.createElement("option"), { value, textContent: text }));
      }
      field.value = value;
    }
    state.scope = ["queue", "mine", "done", "groups"].includes(params.get("scope")) ? params.get("scope") : "queue";
    state.pageRequest = {};
    if (params.get("after")) state.pageRequest.after = params.get("after");
    else if (params.get("before")) state.pageRequest.before = params.get("before");
    else if (params.get("last")) state.pageRequest.last = true;
  }

  function readFilters() {
    const filters = {};
    for (const [key, value] of new FormData(filtersForm).entries()) {
      if (value !== "") filters[key] = value;
    }
    return filters;
  }

  function viewQuery() {
    const params = new URLSearchParams(state.filters);
    if (state.scope !== "queue") params.set("scope", state.scope);
    return params;
  }

  function writeAddress() {
    const params = viewQuery();
    for (const [key, value] of Object.entries(state.pageRequest)) params.set(key, value === true ? "1" : value);
    const query = params.toString();
    history.replaceState(null, "", query ? `?${query}` : location.pathname);
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
      params.delete("sort");
      link.href = link.dataset.insights;
    }
    if (params.toString()) link.href += "?" + params.toString();
  }

  // Rows

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (className) td.className = className;
    return td;
  }

  function statusText(row) {
    if (row.kind === "group") return `${number(row.count)} identical, pending`;
    const pending = [...state.outbox.values()].find((entry) => entry.key === row.key);
    if (pending) return pending.message.decision === "approve" ? "Approving…" : "Rejecting…";
    if (row.status === "pending") return claimText(row) || "Pending";
    const label = STATUS_LABELS[row.status] || row.status;
    return row.reviewed_by ? `${label} by ${row.reviewed_by === ME ? "you" : row.reviewed_by}` : label;
  }

  function rowClasses(row) {
    const classes = [`status-${row.status}`, `kind-${row.kind}`];
    if (row.key === state.selected) classes.push("selected");
    if (state.picked.has(row.key) || (state.allMatching && row.status === "pending")) classes.push("picked");
    if ([...state.outbox.values()].some((entry) => entry.key === row.key)) classes.push("sending");
    if (row.claimed_by && row.claimed_by !== ME && row.status === "pending") classes.push("claimed-elsewhere");
    if (row.corrected_text) classes.push("corrected");
    if (state.arrivedKeys.has(row.key)) classes.push("arrived");
    return classes.join(" ");
  }

  function buildRow(row) {
    const tr = document.createElement("tr");
    tr.dataset.key = row.key;
    fillRow(tr, row);
    return tr;
  }

  function fillRow(tr, row) {
    tr.className = rowClasses(row);
    const cells = [];
    if (picking) {
      const box = Object.assign(document.createElement("input"), {
        type: "checkbox", checked: state.picked.has(row.key) || state.allMatching,
        disabled: row.status !== "pending" || row.kind === "group",
      });
      box.setAttribute("aria-label", `Select ${KIND_LABELS[row.kind].toLowerCase()} ${row.id} for a bulk decision`);
      const td = document.createElement("td");
      td.className = "pick";
      td.append(box);
      cells.push(td);
    }
    const text = cell(row.corrected_text || row.snippet, "snippet");
    const meta = Object.assign(document.createElement("span"), {
      className: "meta",
      textContent: row.kind === "group" ? `${row.stream} · ${number(row.count)} identical` : `${row.stream} · ${when(row.received_at)}`,
    });
    text.append(meta);
    cells.push(
      cell(confidenceText(row.confidence), "number"),
      cell(typeLabel(row)),
      text,
      cell(row.interaction_id, "wide mono"),
      cell(row.stream, "wide"),
      cell(when(row.received_at), "wide nowrap"),
      cell(statusText(row), "status"),
    );
    tr.replaceChildren(...cells);
  }

  function updateRow(key) {
    const tr = state.tr.get(key);
    const row = state.rows.get(key);
    if (tr && row) fillRow(tr, row);
  }

  function renderPage() {
    const fragment = document.createDocumentFragment();
    state.tr.clear();
    for (const key of state.order) {
      const tr = buildRow(state.rows.get(key));
      state.tr.set(key, tr);
      fragment.append(tr);
    }
    tbody.replaceChildren(fragment);
    renderSummary();
    renderSelected();
    renderBulk();
  }

  function renderSummary() {
    const page = state.page;
    const shown = state.order.length;
    let text;
    if (!shown) {
      text = {
        queue: "Nothing matches these filters.",
        mine: "You hold no items: claim some (c).",
        done: "You have decided nothing today yet.",
        groups: "No two pending items that match these filters are identical.",
      }[state.scope];
    } else if (state.scope === "groups") {
      text = `${number(shown)} group${shown === 1 ? "" : "s"} of identical items, largest first`;
    } else if (state.scope !== "queue") {
      text = `${number(shown)} item${shown === 1 ? "" : "s"}`;
    } else {
      const start = page.position + 1;
      const total = page.count_capped ? `more than ${number(page.count)}` : number(page.count);
      // The order the server listed them in: a search of common words is not ranked.
      const order = [...filtersForm.elements.sort.options].find((o) => o.value === page.sort) || filtersForm.elements.sort.selectedOptions[0];
      text = `Items ${number(start)}–${number(page.position + shown)} of ${total} · ${order.text.toLowerCase()}`;
      if (page.sort_note) text += `. ${page.sort_note}`;
    }
    $("#queue-summary").textContent = text;
    const paged = state.scope === "queue";
    for (const button of $$(".pager button")) {
      const which = button.dataset.page;
      button.disabled = !paged || (which === "first" || which === "prev" ? !page.has_prev : !page.has_next);
    }
    if (state.scope === "queue") $("#count-queue").textContent = page.count_capped ? `${number(page.count)}+` : number(page.count);
  }

  // The selected item

  // What approving and rejecting an item of this type says, where its type says so.
  function renderMeaning(row) {
    const meaning = row && row.kind !== "group" ? TYPE_MEANINGS[row.insight_type] : null;
    const box = $("#meaning");
    box.hidden = !meaning;
    box.textContent = meaning ? `Approve: ${meaning.approve}. Reject: ${meaning.reject}.` : "";
  }

  function renderSelected() {
    const box = $("#selected");
    const row = state.rows.get(state.selected);
    for (const button of $$("#decide button")) button.disabled = !row || row.status !== "pending";
    renderMeaning(row);
    if (!row) {
      box.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: "Nothing selected." }));
      $("#context").replaceChildren();
      return;
    }
    if (row.kind === "group") {
      renderGroup(box, row);
      return;
    }
    const dl = document.createElement("dl");
    const fields = row.kind === "knowledge" ? knowledgeFields(row) : [
      ["Type", typeLabel(row)],
      ["Confidence", confidenceText(row.confidence)],
      ["Relevance", confidenceText(row.relevance)],
      ["Interaction", row.interaction_id],
      ["Stream", row.stream],
      ["Received", when(row.received_at)],
    ];
    fields.push(["Status", statusText(row)]);
    if (row.status !== "pending" && row.status !== "second_review") {
      fields.push(["Decided at", when(row.reviewed_at)]);
      if (row.reason_code) fields.push(["Reason", reasonLabels[row.reason_code] || row.reason_code]);
      if (row.note) fields.push(["Note", row.note]);
    }
    for (const [label, value] of fields) {
      dl.append(
        Object.assign(document.createElement("dt"), { textContent: label }),
        Object.assign(document.createElement("dd"), { textContent: value ?? "" }),
      );
    }
    const heading = Object.assign(document.createElement("p"), { className: "kind", textContent: itemName(row) });
    const parts = [heading];
    if (row.corrected_text) {
      parts.push(labelled("Approved with this correction", row.corrected_text, "snippet-full corrected"));
      parts.push(labelled("As received", row.snippet, "snippet-full original"));
    } else {
      parts.push(Object.assign(document.createElement("p"), { className: "snippet-full", textContent: row.snippet }));
    }
    parts.push(dl);
    if (row.kind === "knowledge") parts.push(resultList(row.knowledge));
    box.replaceChildren(...parts);
    const tr = state.tr.get(row.key);
    if (tr) tr.scrollIntoView({ block: "nearest" });
    scheduleContext(row.key);
  }

  function renderGroup(box, row) {
    const dl = document.createElement("dl");
    for (const [label, value] of [
      ["Items", `${number(row.count)} pending, identical`],
      ["Type", typeLabel(row)],
      ["Stream", row.stream],
      ["Lowest confidence", confidenceText(row.confidence)],
      ["Latest", when(row.received_at)],
    ]) {
      dl.append(
        Object.assign(document.createElement("dt"), { textContent: label }),
        Object.assign(document.createElement("dd"), { textContent: value }),
      );
    }
    box.replaceChildren(
      Object.assign(document.createElement("p"), { className: "kind", textContent: `${number(row.count)} identical items` }),
      Object.assign(document.createElement("p"), { className: "snippet-full", textContent: row.snippet }),
      dl,
      Object.assign(document.createElement("p"), { className: "muted", textContent: "Approving or rejecting decides every one of them, each with its own entry in the audit trail." }),
    );
    $("#context").replaceChildren();
    $("#edit").disabled = true;
    $("#skip").disabled = true;
  }

  function labelled(label, text, className) {
    const wrap = document.createElement("div");
    wrap.append(
      Object.assign(document.createElement("p"), { className: "label", textContent: label }),
      Object.assign(document.createElement("p"), { className, textContent: text }),
    );
    return wrap;
  }

  function knowledgeFields(row) {
    const knowledge = row.knowledge;
    return [
      ["Best confidence", confidenceText(row.confidence)],
      ["Governance", knowledge.governance_status === "PASS" ? "A result passed" : "No result passed"],
      ["Conversation", row.interaction_id],
      ["Knowledge stream", row.stream],
      ["Asked by", `${knowledge.origin}: ${knowledge.requested_by}`],
      ["Filtered results", String(knowledge.filtered)],
      ["From the cache", knowledge.cache_hit ? "yes" : "no"],
      ["Asked at", when(row.received_at)],
    ];
  }

  // The results the agent received, in rank order; urls are shown as text, not followed.
  function resultList(knowledge) {
    const list = Object.assign(document.createElement("ol"), { className: "results" });
    for (const result of knowledge.results) {
      const item = document.createElement("li");
      item.append(
        Object.assign(document.createElement("strong"), { textContent: result.title }),
        Object.assign(document.createElement("span"), { className: "muted", textContent: ` ${confidenceText(result.confidence)} · ${result.knowledge_base_id}` }),
        Object.assign(document.createElement("p"), { textContent: result.snippet }),
        Object.assign(document.createElement("p"), { className: "url muted", textContent: result.url }),
      );
      list.append(item);
    }
    if (!knowledge.results.length) list.append(Object.assign(document.createElement("li"), { textContent: "No result passed." }));
    const section = document.createElement("section");
    section.append(Object.assign(document.createElement("h3"), { textContent: "Results the agent was given" }), list);
    return section;
  }

  // Context: the conversation's other items, the rule, the history. Fetched once the
  // selection rests (so j held down does not fetch every row), and kept per item.

  function scheduleContext(key) {
    clearTimeout(state.contextTimer);
    const known = state.context.get(key);
    if (known) {
      renderContext(key, known);
      return;
    }
    $("#context").replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: "Loading its context…" }));
    state.contextTimer = setTimeout(() => loadContext(key), 150);
  }

  async function loadContext(key) {
    const [kind, id] = key.split(":");
    try {
      const response = await fetch(`${CONTEXT_URL}${kind}/${id}/`, { headers: { Accept: "application/json" } });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
      state.context.set(key, body);
      if (state.selected === key) renderContext(key, body);
    } catch (error) {
      if (state.selected === key) {
        $("#context").replaceChildren(Object.assign(document.createElement("p"), { className: "error", textContent: `Its context could not be loaded (${error.message}); select it again to retry.` }));
      }
    }
  }

  function renderContext(key, context) {
    const section = $("#context");
    const rule = Object.assign(document.createElement("p"), { className: "rule", textContent: context.rule });
    // The rule is the version that judged the item; later versions are named, not applied.
    const since = (context.rule_since || []).map((later) => `version ${later.number} (${when(later.at)}${later.by ? `, ${later.by}` : ""})`);
    const ruleSince = since.length
      ? [Object.assign(document.createElement("p"), { className: "muted", textContent: `Changed since: ${since.join("; ")}.` })]
      : [];
    const timeline = document.createElement("ol");
    timeline.className = "timeline";
    // It scrolls by itself when long: the keyboard must reach it too.
    timeline.tabIndex = 0;
    timeline.setAttribute("aria-label", "Its conversation, oldest first");
    for (const event of context.timeline) {
      const li = document.createElement("li");
      if (event.key === key) li.className = "current";
      li.append(
        Object.assign(document.createElement("span"), { className: "muted", textContent: `${when(event.at).slice(11)} · ${event.what} · ${STATUS_LABELS[event.status] || event.status} ` }),
        document.createTextNode(event.text),
      );
      timeline.append(li);
    }
    const history = document.createElement("ol");
    history.className = "history";
    history.tabIndex = 0;
    history.setAttribute("aria-label", "Its history");
    for (const event of context.history) {
      const li = document.createElement("li");
      li.textContent = `${when(event.at)} · ${event.what}${event.who ? ` · ${event.who}` : ""}`;
      history.append(li);
    }
    // What a summary says beyond its first lines: its whole text, the wrap-up codes Genesys
    // predicted with their confidence, the reason, resolution and follow-up (as text).
    const details = [];
    if (context.details && context.details.length) {
      const list = document.createElement("dl");
      list.className = "details";
      for (const detail of context.details) {
        list.append(
          Object.assign(document.createElement("dt"), { textContent: detail.label }),
          Object.assign(document.createElement("dd"), { textContent: detail.value }),
        );
      }
      details.push(Object.assign(document.createElement("h3"), { textContent: "What Genesys summarised" }), list);
    }
    section.replaceChildren(
      ...details,
      ...revealSection(key, context),
      Object.assign(document.createElement("h3"), { textContent: "The rule that applied" }), rule, ...ruleSince,
      Object.assign(document.createElement("h3"), { textContent: `Its conversation (${context.timeline.length})` }), timeline,
      Object.assign(document.createElement("h3"), { textContent: "Its history" }), history,
    );
  }

  // Revealing the original (data protection officers, where originals are kept): a reason,
  // then the text as it arrived for a minute; the reveal is in the audit trail.

  function revealSection(key, context) {
    if (!root.dataset.revealUrl || !context.original_kept) return [];
    const heading = Object.assign(document.createElement("h3"), { textContent: "Its original" });
    const form = document.createElement("form");
    form.className = "reveal";
    const label = Object.assign(document.createElement("label"), { textContent: "Why you need it " });
    const reason = Object.assign(document.createElement("input"), { name: "reason", required: true, minLength: 10, maxLength: 300, autocomplete: "off" });
    label.append(reason);
    const button = Object.assign(document.createElement("button"), { type: "submit", textContent: "Reveal the original" });
    const note = Object.assign(document.createElement("p"), { className: "muted", textContent: "Your name and reason go into the audit trail; the text shows for a minute." });
    const shown = Object.assign(document.createElement("div"), { className: "revealed" });
    shown.setAttribute("aria-live", "polite");
    form.append(label, button, note, shown);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      revealOriginal(key, reason, shown, button);
    });
    return [heading, form];
  }

  async function revealOriginal(key, reason, shown, button) {
    const [kind, id] = key.split(":");
    button.disabled = true;
    try {
      const body = new URLSearchParams({ reason: reason.value });
      const response = await fetch(`${root.dataset.revealUrl}${kind}/${id}/`, { method: "POST", body, headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" } });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error ? answer.error.message : `HTTP ${response.status}`);
      const text = answer.original.snippet || answer.original.query_text || "";
      const quote = Object.assign(document.createElement("blockquote"), { className: "item-text", textContent: text });
      const left = Object.assign(document.createElement("p"), { className: "muted" });
      shown.replaceChildren(quote, left);
      reason.value = "";
      let seconds = answer.shown_for_seconds;
      const tick = () => {
        left.textContent = `Hidden again in ${seconds} s.`;
        if (seconds-- <= 0) {
          clearInterval(timer);
          shown.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: "The original is hidden again; reveal it again with a reason." }));
          button.disabled = false;
        }
      };
      const timer = setInterval(tick, 1000);
      tick();
    } catch (error) {
      shown.replaceChildren(Object.assign(document.createElement("p"), { className: "error", textContent: `Not revealed: ${error.message}` }));
      button.disabled = false;
    }
  }

  // Moving

  function select(key) {
    if (key === state.selected) return;
    const previous = state.selected;
    state.selected = key;
    closeReasons();
    closeCorrection();
    if (previous) updateRow(previous);
    updateRow(key);
    renderSelected();
  }

  function move(step) {
    if (!state.order.length) return;
    const index = state.order.indexOf(state.selected);
    const next = Math.min(state.order.length - 1, Math.max(0, index === -1 ? 0 : index + step));
    select(state.order[next]);
  }

  // After a decision: the next pending row of the page, else the next row.
  function advance(fromKey) {
    const start = state.order.indexOf(fromKey);
    for (let i = start + 1; i < state.order.length; i++) {
      const row = state.rows.get(state.order[i]);
      if (row.status === "pending" && !isSending(row.key) && !(row.claimed_by && row.claimed_by !== ME)) {
        select(row.key);
        return;
      }
    }
  }

  function isSending(key) {
    return [...state.outbox.values()].some((entry) => entry.key === key);
  }

  // Messages

  function toast(message, kind) {
    const item = Object.assign(document.createElement("div"), { className: "toast " + (kind || "info"), textContent: message });
    $("#toasts").append(item);
    setTimeout(() => item.remove(), kind === "error" ? 12000 : 6000);
  }

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  // Deciding

  // The selected row, when the user's role may decide its kind (else a message says why).
  function decidable() {
    const row = state.rows.get(state.selected);
    if (!row) return null;
    const kind = row.kind === "group" ? row.group.kind : row.kind;
    if (!state.canDecide.includes(kind)) {
      toast(`Your role cannot decide ${KIND_LABELS[row.kind].toLowerCase()}s.`, "error");
      return null;
    }
    if (row.status !== "pending") {
      toast(`${itemName(row)} is already ${STATUS_LABELS[row.status].toLowerCase()}.`, "warning");
      return null;
    }
    if (row.claimed_by && row.claimed_by !== ME) {
      toast(`${claimText(row)}: leave it to them, or ask a lead to reassign it.`, "warning");
      return null;
    }
    if (isSending(row.key)) return null;
    return row;
  }

  function newId() {
    return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  }

  function decide(decision, reasonCode) {
    const row = decidable();
    if (!row) return;
    if (row.kind === "group") {
      decideGroup(row, decision, reasonCode);
      return;
    }
    const message = { type: "decide", kind: row.kind, id: row.id, decision, note: note.value, decision_id: newId() };
    if (decision === "reject") message.reason_code = reasonCode;
    if (decision === "approve" && state.editing && correction.value.trim() !== originalText(row)) {
      message.corrected_text = correction.value;
    }
    state.outbox.set(message.decision_id, { key: row.key, message });
    note.value = "";
    closeReasons();
    closeCorrection();
    updateRow(row.key);
    if (!send(message)) toast("Not connected: the decision will be sent when the connection is back.", "warning");
    advance(row.key);
    renderSelected();
  }

  function settle(decisionId) {
    const entry = state.outbox.get(decisionId);
    state.outbox.delete(decisionId);
    return entry;
  }

  function applyRows(rows) {
    for (const row of rows) {
      if (!state.rows.has(row.key)) continue;
      state.rows.set(row.key, row);
      if (row.status !== "pending") state.picked.delete(row.key);
      updateRow(row.key);
      if (row.key === state.selected) renderSelected();
      state.context.delete(row.key);
    }
  }

  function openReasons() {
    const row = decidable();
    if (!row) return;
    // Reasons offered for the item's type only (a reason with no types fits every one).
    const type = row.kind === "knowledge" ? "knowledge.answer" : row.insight_type;
    for (const li of reasons.querySelectorAll("li")) {
      const types = li.dataset.types.split(" ").filter(Boolean);
      li.hidden = row.kind !== "group" && types.length > 0 && !types.includes(type);
    }
    reasons.hidden = false;
    offeredReasons()[0]?.focus({ preventScroll: true });
    offeredReasons()[0]?.blur();
  }

  function offeredReasons() {
    return reasons.querySelectorAll("li:not([hidden]) input");
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

  function openCorrection() {
    const row = decidable();
    if (!row || row.kind === "group") return;
    state.editing = true;
    correction.hidden = false;
    $("#correction-label").hidden = false;
    correction.value = row.corrected_text || originalText(row);
    correction.focus();
  }

  // The text a correction starts from: a summary's whole text (from its context, once
  // loaded), else the text as listed.
  function originalText(row) {
    const context = state.context.get(row.key);
    const whole = context && (context.details || []).find((detail) => detail.label === "Summary");
    return whole ? whole.value : row.snippet;
  }

  function closeCorrection() {
    state.editing = false;
    correction.hidden = true;
    $("#correction-label").hidden = true;
  }

  // Claims

  function claimNext() {
    if (!state.canDecide.length) return;
    if (!send({ type: "claim" })) toast("Not connected: try again in a moment.", "error");
  }

  function skip() {
    const row = state.rows.get(state.selected);
    if (!row || row.claimed_by !== ME) {
      toast("Only an item you hold can be skipped: claim it first (c).", "warning");
      return;
    }
    send({ type: "skip", key: row.key });
  }

  // Bulk decisions

  function togglePick(key, range) {
    const row = state.rows.get(key);
    if (!row || row.status !== "pending") return;
    state.allMatching = false;
    const keys = [key];
    if (range && state.lastPicked && state.order.includes(state.lastPicked)) {
      const [a, b] = [state.order.indexOf(state.lastPicked), state.order.indexOf(key)].sort((x, y) => x - y);
      keys.splice(0, 1, ...state.order.slice(a, b + 1));
    }
    const on = range ? true : !state.picked.has(key);
    for (const k of keys) {
      if (state.rows.get(k).status !== "pending") continue;
      if (on) state.picked.add(k);
      else state.picked.delete(k);
      updateRow(k);
    }
    state.lastPicked = key;
    renderBulk();
  }

  function renderBulk() {
    if (!picking) return;
    const box = $("#bulk");
    const count = state.allMatching ? state.page.count : state.picked.size;
    box.hidden = count === 0 && !state.bulk;
    $("#bulk-summary").textContent = state.allMatching
      ? `All ${number(state.page.count)} pending items matching these filters are selected.`
      : `${number(count)} selected.`;
    const allButton = $("#select-all-matching");
    const pendingOnPage = state.order.filter((k) => state.rows.get(k).status === "pending");
    const wholePage = pendingOnPage.length > 0 && pendingOnPage.every((k) => state.picked.has(k));
    allButton.hidden = state.allMatching || !wholePage || state.scope !== "queue" || state.page.count <= pendingOnPage.length;
    allButton.textContent = `Select all ${number(state.page.count)} matching the filters`;
  }

  // A bulk decision is confirmed with Cancel focused (Enter cancels); over more than the
  // page shown, the officer types the number of items first (Yes stays disabled until then).
  function confirmDialog(text, count) {
    const dialog = $("#confirm");
    const typed = $("#confirm-typed");
    const input = $("#confirm-input");
    const yes = $("#confirm-yes");
    $("#confirm-text").textContent = text;
    const mustType = count > Math.max(state.order.length, 1);
    typed.hidden = !mustType;
    input.value = "";
    $("#confirm-count").textContent = String(count);
    yes.disabled = mustType;
    input.oninput = () => { yes.disabled = input.value.replace(/[\s,.]/g, "") !== String(count); };
    dialog.returnValue = "";
    dialog.showModal();
    (mustType ? input : $("#confirm-no")).focus();
    return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true }));
  }

  async function decideGroup(row, decision, reasonCode) {
    closeReasons();
    const what = decision === "approve" ? "Approve" : `Reject (${reasonLabels[reasonCode]})`;
    if (!(await confirmDialog(`${what} all ${number(row.count)} identical items?`, row.count))) return;
    const message = { type: "bulk", bulk_id: newId(), decision, reason_code: reasonCode || "", note: note.value, group: row.group };
    if (!send(message)) {
      toast("Not connected: nothing was decided. Try again when the connection is back.", "error");
      return;
    }
    state.bulk = { id: message.bulk_id, total: row.count, decision, reason: reasonCode };
    if (picking) {
      $("#bulk-progress").hidden = false;
      renderBulk();
    }
  }

  async function bulk(decision) {
    const count = state.allMatching ? state.page.count : state.picked.size;
    if (!count) return;
    const reason = $("#bulk-reason").value;
    if (decision === "reject" && !reason) {
      toast("Choose the reason for rejecting them first.", "error");
      $("#bulk-reason").focus();
      return;
    }
    const what = decision === "approve" ? "Approve" : `Reject (${reasonLabels[reason]})`;
    if (!(await confirmDialog(`${what} ${number(count)} item${count === 1 ? "" : "s"}?`, count))) return;
    $("#bulk-reason").value = ""; // chosen each time, never carried over to the next bulk
    const message = { type: "bulk", bulk_id: newId(), decision, reason_code: reason, note: note.value };
    if (state.allMatching) message.all_matching = true;
    else message.keys = [...state.picked];
    if (!send(message)) {
      toast("Not connected: nothing was decided. Try again when the connection is back.", "error");
      return;
    }
    state.bulk = { id: message.bulk_id, total: count, decision, reason };
    const progress = $("#bulk-progress");
    progress.hidden = false;
    progress.max = count;
    progress.value = 0;
    renderBulk();
  }

  function bulkProgress(message, done) {
    if (!state.bulk || message.bulk_id !== state.bulk.id) return;
    if (!picking) return;
    const progress = $("#bulk-progress");
    progress.max = message.total || 1;
    progress.value = message.decided + message.skipped;
    $("#bulk-summary").textContent = `${number(message.decided)} of ${number(message.total)} decided${message.skipped ? `, ${number(message.skipped)} left (decided or held by someone else)` : ""}…`;
    if (done) {
      const { decision, reason } = state.bulk;
      state.bulk = null;
      state.picked.clear();
      state.allMatching = false;
      progress.hidden = true;
      renderBulk();
      const how = decision === "approve" ? "approved" : `rejected (${reasonLabels[reason] || "no reason"})`;
      const left = message.skipped ? ` ${number(message.skipped)} left: ${message.skipped_reasons[0]}` : "";
      toast(`${number(message.decided)} ${how}.${left}`, message.skipped ? "warning" : "ok");
      // The page stays where it was: its decided rows show as decided (the socket's updates
      // bring them), nothing moves under the cursor. Identical groups re-form, so re-read.
      if (state.scope === "groups") subscribe(state.pageRequest);
    }
  }

  // The socket

  function subscribe(pageRequest) {
    state.pageRequest = pageRequest || {};
    const chosen = readFilters();
    if (JSON.stringify(chosen) !== JSON.stringify(state.filters)) {
      // New items announced for other filters are not these filters' news.
      state.newKeys.clear();
      renderNew();
    }
    state.filters = chosen;
    writeAddress();
    updateCsvLink();
    const filters = { ...state.filters, scope: state.scope };
    send({ type: "subscribe", filters, page: state.pageRequest });
  }

  function onPage(message) {
    state.canDecide = message.can_decide;
    state.canAssign = message.can_assign;
    state.page = message;
    state.rows = new Map(message.items.map((row) => [row.key, row]));
    state.order = message.items.map((row) => row.key);
    state.picked = new Set([...state.picked].filter((k) => state.rows.has(k)));
    if (!state.rows.has(state.selected)) {
      const firstOpen = state.order.find((k) => state.rows.get(k).status === "pending");
      state.selected = firstOpen || state.order[0] || null;
    }
    // The new items "Show them" brought, marked until the page changes.
    state.arrivedKeys = new Set(state.arrived ? state.order.filter((key) => state.arrived.has(key)) : []);
    renderPage();
    sayWhereNewWent();
  }

  function onMessage(event) {
    const message = JSON.parse(event.data);
    switch (message.type) {
      case "page":
        onPage(message);
        break;
      case "new":
        for (const key of message.keys) if (!state.rows.has(key)) state.newKeys.add(key);
        renderNew();
        break;
      case "updates":
        applyRows(message.items);
        break;
      case "session_ended": {
        // To the sign-in page, which says why; back here after signing in.
        const next = location.pathname + location.search;
        location.assign(`/login/?${new URLSearchParams({ next, ended: message.reason })}`);
        break;
      }
      case "decided": {
        const entry = settle(message.decision_id);
        const heldByMe = message.items.filter((row) => state.rows.get(row.key)?.claimed_by === ME).length;
        applyRows(message.items);
        for (const row of message.items) {
          // Confirmed where it shows; said in words when the page no longer shows it (it
          // reloaded after a reconnect, say).
          if (state.tr.has(row.key)) flash(row.key);
          else if (entry) toast(`${itemName(row)} ${row.status}${message.resent ? " (sent again after the reconnect, decided once)" : ""}.`, "ok");
        }
        // The tabs' counts follow each decision of mine (not the next 15-second read).
        if (entry) {
          const decided = message.items.length;
          bump("#count-done", decided);
          bump("#count-mine", -heldByMe);
          if ((state.filters.status || "pending") === "pending") bump("#count-queue", -decided);
          progressSoon();
        }
        break;
      }
      case "conflict": {
        settle(message.decision_id);
        applyRows(message.items);
        toast(message.message, "warning");
        break;
      }
      case "error": {
        const entry = message.decision_id ? settle(message.decision_id) : null;
        if (entry) updateRow(entry.key);
        toast(message.message, "error");
        break;
      }
      case "claimed":
      case "assigned":
        toast(message.message, message.keys.length ? "ok" : "warning");
        if (state.scope === "mine") subscribe({});
        refreshProgress();
        break;
      case "released":
        toast(message.message, "ok");
        if (state.scope === "mine") subscribe({});
        refreshProgress();
        break;
      case "skipped":
        if (state.scope === "mine") subscribe({});
        break;
      case "bulk_progress":
        bulkProgress(message, false);
        break;
      case "bulk_done":
        bulkProgress(message, true);
        refreshProgress();
        break;
      case "health":
        refreshHealth();
        break;
    }
  }

  function flash(key) {
    const tr = state.tr.get(key);
    if (!tr) return;
    tr.classList.add("confirmed");
    setTimeout(() => tr.classList.remove("confirmed"), 1200);
  }

  // Where new items go in each order: said before they are shown, and counted after.
  const NEW_PLACE = {
    newest: "They are at the top of the queue.",
    oldest: "They are at the end of the queue.",
    confidence: "They fall through the queue by confidence.",
    "-confidence": "They fall through the queue by confidence.",
    relevance: "They fall through the queue by how well they match.",
  };

  function renderNew() {
    const bar = $("#new-items");
    const count = state.newKeys.size;
    bar.hidden = count === 0 || state.scope !== "queue";
    const sort = filtersForm.elements.sort.value;
    $("#new-count").textContent = `${number(count)} new item${count === 1 ? "" : "s"} match${count === 1 ? "es" : ""} these filters. ${NEW_PLACE[sort] || ""}`;
  }

  function showNew() {
    const arrived = new Set(state.newKeys);
    state.newKeys.clear();
    renderNew();
    state.arrived = arrived;
    // The end of the queue in oldest-first order, its start in every other.
    subscribe(filtersForm.elements.sort.value === "oldest" ? { last: true } : {});
  }

  // After "Show them": mark the new rows this page holds and say where the others are.
  function sayWhereNewWent() {
    const arrived = state.arrived;
    state.arrived = null;
    if (!arrived || !arrived.size) return;
    const here = [...state.arrivedKeys];
    const others = arrived.size - here.length;
    const order = filtersForm.elements.sort.selectedOptions[0].text.toLowerCase();
    if (arrived.size === 1) {
      toast(here.length ? "The new item is on this page, marked new." : `The new item is further on in this order (${order}), or was decided meanwhile.`, "ok");
      return;
    }
    const elsewhere = others ? ` The other ${number(others)} ${others === 1 ? "is" : "are"} further on in this order (${order}), or ${others === 1 ? "was" : "were"} decided meanwhile.` : "";
    toast(`${number(here.length)} of the ${number(arrived.size)} new items are on this page, marked new.${elsewhere}`, "ok");
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/review/`);
    const pill = $("#connection");
    state.socket = socket;
    pill.textContent = "connecting…";
    socket.addEventListener("open", () => {
      state.retry = 0;
      pill.textContent = "live";
      pill.className = "connection live";
      subscribe(state.pageRequest);
      // Decisions typed while disconnected, sent once, each with its own id: a decision the
      // server already applied is answered as such, never made twice.
      for (const { message } of state.outbox.values()) socket.send(JSON.stringify(message));
    });
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", (event) => {
      pill.className = "connection down";
      if (event.code === 4403 || event.code === 4401) {
        pill.textContent = "signed out: sign in again";
        return;
      }
      // Reconnect with backoff; the page and the unsent decisions follow on open.
      const delay = Math.min(10000, 500 * 2 ** state.retry++) * (0.5 + Math.random() / 2);
      pill.textContent = `reconnecting in ${Math.max(1, Math.round(delay / 1000))} s…`;
      setTimeout(connect, delay);
    });
  }

  // Paging

  function goto(which) {
    const page = state.page;
    if (state.scope !== "queue") return;
    if (which === "first") subscribe({});
    else if (which === "last") subscribe({ last: true });
    else if (which === "next" && page.has_next) subscribe({ after: page.last });
    else if (which === "prev" && page.has_prev) subscribe({ before: page.first });
  }

  function setScope(scope) {
    state.scope = scope;
    for (const tab of $$(".tab")) tab.setAttribute("aria-pressed", String(tab.dataset.scope === scope));
    state.newKeys.clear();
    renderNew();
    subscribe({});
  }

  // Team progress and stream health, read every few seconds.

  // Several decisions in a row read the team's figures once, just after.
  // A tab's count moved by `delta` at once (a count shown as "more than", "100,000+", stays).
  function bump(selector, delta) {
    const count = $(selector);
    if (!count || !delta || count.textContent.endsWith("+")) return;
    count.textContent = number(Math.max(0, Number(count.textContent.replace(/\D/g, "")) + delta));
  }

  function progressSoon() {
    clearTimeout(state.progressTimer);
    state.progressTimer = setTimeout(refreshProgress, 400);
  }

  async function refreshProgress() {
    try {
      const response = await fetch(root.dataset.progressUrl, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const progress = await response.json();
      if ($("#count-mine")) {
        $("#count-mine").textContent = number(progress.me.claimed);
        $("#count-done").textContent = number(progress.me.decided_today);
      }
      const box = $("#progress");
      const summary = Object.assign(document.createElement("p"), {
        textContent: `${number(progress.decided_today)} decided by the team today${progress.second_today ? `, and ${number(progress.second_today)} second review${progress.second_today === 1 ? "" : "s"}` : ""}; ${progress.pending_capped ? "more than " : ""}${number(progress.pending)} pending.`,
      });
      const table = document.createElement("table");
      table.className = "plain";
      table.innerHTML = "<thead><tr><th>Officer</th><th class='number'>Decided</th><th class='number'>Second reviews</th><th class='number'>Holding</th></tr></thead>";
      const body = document.createElement("tbody");
      for (const person of progress.team) {
        const tr = document.createElement("tr");
        tr.append(cell(person.name === ME ? `${person.name} (you)` : person.name), cell(number(person.decided_today), "number"), cell(number(person.second_today), "number"), cell(number(person.claimed), "number"));
        body.append(tr);
      }
      table.append(body);
      box.replaceChildren(summary, ...(progress.team.length ? [table] : []));
    } catch (error) {
      // The next read will tell; the queue itself does not depend on this.
    }
  }

  const STATE_WORDS = { reconnecting: "reconnecting", saturated: "at Genesys' stream limit", error: "stopped by an error", stopped: "stopped", starting: "starting" };

  async function refreshHealth() {
    try {
      const response = await fetch(root.dataset.healthUrl, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const { streams } = await response.json();
      const stream = filtersForm.elements.stream;
      const chosen = state.filters.stream ? stream.options[stream.selectedIndex].text : null;
      const troubled = streams.filter((s) => s.enabled && s.state !== "connected" && (!chosen || s.name === chosen));
      const banner = $("#health");
      banner.hidden = troubled.length === 0;
      banner.replaceChildren(...troubled.map((s) => {
        const line = document.createElement("p");
        let text = `${s.name} is ${STATE_WORDS[s.state] || s.state}`;
        if (s.state_changed_at) text += ` since ${when(s.state_changed_at).slice(11)}`;
        if (s.detail) text += `: ${s.detail}`;
        if (s.retry_at) text += `; retrying at ${when(s.retry_at).slice(11)}`;
        line.textContent = text + ". New items from it wait until it is back.";
        return line;
      }));
    } catch (error) {
      // Shown again at the next read.
    }
  }

  // Saved views

  function renderViews(views) {
    const select = $("#views");
    const options = [Object.assign(document.createElement("option"), { value: "", textContent: "Choose a view…" })];
    for (const view of views) {
      const option = document.createElement("option");
      option.value = view.query;
      option.textContent = view.published ? `${view.name} (for everyone)` : view.name;
      options.push(option);
    }
    select.replaceChildren(...options);
  }

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function saveView() {
    const dialog = $("#save-view-dialog");
    const form = $("#save-view-form");
    form.reset();
    dialog.returnValue = "";
    dialog.showModal();
    dialog.addEventListener("close", () => {
      const name = form.elements.name.value.trim();
      if (dialog.returnValue !== "save" || !name) return;
      sendView(name, Boolean(form.elements.published && form.elements.published.checked));
    }, { once: true });
  }

  async function sendView(name, published) {
    const body = new URLSearchParams({ name, query: viewQuery().toString() });
    if (published) body.set("published", "on");
    const response = await fetch(root.dataset.viewsUrl, { method: "POST", body, headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" } });
    const answer = await response.json();
    if (!response.ok) {
      toast(`The view was not saved: ${answer.error.message}`, "error");
      return;
    }
    renderViews(answer.views);
    toast(answer.message || `View "${name}" saved.`, "ok");
  }

  function applyView(query) {
    if (!query) return;
    history.replaceState(null, "", `?${query}`);
    filtersForm.reset();
    readAddress();
    setScope(state.scope);
  }

  // Assignment (leads)

  function openAssign() {
    const dialog = $("#assign");
    dialog.showModal();
    dialog.addEventListener("close", () => {
      if (dialog.returnValue !== "assign") return;
      const form = $("#assign-form");
      const message = { type: "assign", to: Number(form.elements.to.value) };
      if (form.elements.which.value === "selected") {
        if (!state.picked.size) {
          toast("Select the items first (x, or their boxes).", "error");
          return;
        }
        message.keys = [...state.picked];
      } else {
        message.count = Number(form.elements.count.value);
      }
      if (!send(message)) toast("Not connected: nothing was assigned.", "error");
    }, { once: true });
  }

  // Keys

  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT");
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if ($("dialog[open]")) return;
    if (event.key === "Escape") {
      closeReasons();
      if (typing(event.target)) {
        // Esc leaves the box; in a search box it would also clear the search, which is not
        // what an officer on their way back to the queue wants.
        event.preventDefault();
        event.target.blur();
      }
      return;
    }
    if (!reasons.hidden && event.key === "Enter") {
      event.preventDefault();
      confirmReject();
      return;
    }
    if (typing(event.target)) return;
    if (!reasons.hidden && /^[1-9]$/.test(event.key)) {
      const input = offeredReasons()[Number(event.key) - 1];
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
      e: () => openCorrection(),
      n: () => note.focus(),
      x: () => state.selected && togglePick(state.selected, false),
      c: () => claimNext(),
      s: () => skip(),
      "]": () => goto("next"),
      "[": () => goto("prev"),
      ".": () => showNew(),
      "?": () => $("#help").showModal(),
    };
    if (actions[event.key]) {
      event.preventDefault();
      actions[event.key]();
    }
  });

  tbody.addEventListener("click", (event) => {
    const tr = event.target.closest("tr");
    if (!tr) return;
    if (event.target.matches("input[type=checkbox]") || event.shiftKey) {
      if (event.shiftKey) event.preventDefault();
      togglePick(tr.dataset.key, event.shiftKey);
      return;
    }
    select(tr.dataset.key);
    // One column (a phone): the item's details and buttons are under the queue.
    if (window.matchMedia("(max-width: 1000px)").matches) $("#panel").scrollIntoView({ behavior: "smooth" });
  });

  $("#approve").addEventListener("click", () => decide("approve"));
  $("#reject").addEventListener("click", openReasons);
  $("#edit").addEventListener("click", openCorrection);
  $("#skip").addEventListener("click", skip);
  $("#confirm-reject").addEventListener("click", confirmReject);
  $("#cancel-reject").addEventListener("click", closeReasons);
  $("#show-new").addEventListener("click", showNew);
  $("#save-view")?.addEventListener("click", saveView);
  $("#views").addEventListener("change", (event) => applyView(event.target.value));
  for (const button of $$(".pager button")) button.addEventListener("click", () => goto(button.dataset.page));
  for (const tab of $$(".tab")) tab.addEventListener("click", () => setScope(tab.dataset.scope));
  if ($("#claim")) {
    $("#claim").addEventListener("click", claimNext);
    $("#release").addEventListener("click", () => send({ type: "release" }));
  }
  if ($("#assign-open")) $("#assign-open").addEventListener("click", openAssign);
  if (picking) {
    $("#bulk-approve").addEventListener("click", () => bulk("approve"));
    $("#bulk-reject").addEventListener("click", () => bulk("reject"));
    $("#bulk-clear").addEventListener("click", () => {
      state.picked.clear();
      state.allMatching = false;
      for (const key of state.order) updateRow(key);
      renderBulk();
    });
    $("#select-all-matching").addEventListener("click", () => {
      state.allMatching = true;
      for (const key of state.order) updateRow(key);
      renderBulk();
    });
  }
  // The search box has its own (debounced) listener: leaving it must not ask again.
  filtersForm.addEventListener("change", (event) => { if (event.target.name !== "search") subscribe({}); });
  filtersForm.addEventListener("submit", (event) => { event.preventDefault(); subscribe({}); });
  let searchTimer = null;
  // A search lists its best matches first, unless the officer chose an order themselves.
  const sortField = filtersForm.elements.sort;
  const defaultSort = sortField.options[0].value;
  let sortChosen = new URLSearchParams(location.search).has("sort");
  sortField.addEventListener("change", () => { sortChosen = true; });
  filtersForm.elements.search.addEventListener("input", (event) => {
    if (!sortChosen) sortField.value = event.target.value.trim() ? "relevance" : defaultSort;
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => subscribe({}), 350);
  });
  if (window.matchMedia("(max-width: 700px)").matches) $("#filters-box").open = false;

  readAddress();
  for (const tab of $$(".tab")) tab.setAttribute("aria-pressed", String(tab.dataset.scope === state.scope));
  state.filters = readFilters();
  renderViews(JSON.parse($("#saved-views").textContent));
  updateCsvLink();
  // The first rows came with the page, for this very address: shown now, and again (and
  // kept current) once the socket is open.
  const firstPage = JSON.parse($("#first-page").textContent);
  if (firstPage && firstPage.query === location.search.slice(1)) onPage(firstPage);
  connect();
  refreshProgress();
  refreshHealth();
  setInterval(refreshProgress, 15000);
  setInterval(refreshHealth, 10000);
})();

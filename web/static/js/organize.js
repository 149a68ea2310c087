// Backchannel organizer console: moderation, rules, sources, schedule import and exports over the REST API.
// The page holds no secrets: the organizer pastes the token, it is kept in sessionStorage and sent as a Bearer
// header. Sections whose API this server does not offer say so instead of failing. User text goes in as text.
(() => {
  "use strict";
  const slug = document.body.dataset.organize;
  if (!slug) return;
  const base = `/api/events/${encodeURIComponent(slug)}`;
  const tokenKey = `bc_token:${slug}`;
  const zone = document.body.dataset.tz || "UTC";
  const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "short", timeZone: zone });
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  const button = (label, action, extra = {}) => {
    const b = el("button", "secondary", label);
    b.type = "button";
    b.dataset.action = action;
    Object.assign(b.dataset, extra);
    return b;
  };
  // What an action did, said where it is seen: the status line is fixed to the bottom of the window (a sighted
  // organizer far down the page sees it) and is the page's one polite live region (a screen reader hears it).
  let statusTimer = 0;
  const status = (text) => {
    const line = $("console-status");
    line.textContent = text;
    clearTimeout(statusTimer);
    statusTimer = setTimeout(() => { line.textContent = ""; }, 8000);
  };
  // The API names its fields as the wire does (time_zone, jetstream_url); the console says them as its labels do.
  const FIELDS = {
    name: "name", hashtags: "hashtags", hashtag: "hashtag", time_zone: "time zone", starts_on: "first day",
    ends_on: "last day", description: "description", instance_url: "instance", jetstream_url: "Jetstream URL",
    url: "URL", keywords: "words to hide", max_posts_per_minute: "posts per author per minute", handle: "author",
  };
  const capital = (text) => text.charAt(0).toUpperCase() + text.slice(1);
  // only the wire-only names (with an underscore) are replaced inside a sentence: "name" is also a word
  const wireNames = new RegExp(`\\b(${Object.keys(FIELDS).filter((k) => k.includes("_")).join("|")})\\b`, "g");
  function humane(data, fallback) {
    const error = data?.error;
    if (!error) return typeof data?.detail === "string" ? data.detail : fallback;
    const first = Array.isArray(error.errors) && error.errors[0];
    if (first && FIELDS[first.field]) {
      return `${capital(FIELDS[first.field])}: ${String(first.message).replace(/^Value error, /, "")}`;
    }
    // "ends_on must not be before starts_on" -> "The last day must not be before the first day"
    let message = String(error.message || fallback).replace("Value error, ", "");
    if (FIELDS[error.field] && message.startsWith(`${error.field} `)) message = `the ${FIELDS[error.field]}${message.slice(error.field.length)}`;
    message = message.replace(wireNames, (name) => `the ${FIELDS[name]}`);
    // a sentence that now opens with a field is capitalised; any other (a file name, a quote) stays as written
    return message.startsWith("the ") ? capital(message) : message;
  }

  let token = sessionStorage.getItem(tokenKey) || "";

  class ApiError extends Error {
    constructor(message, code) { super(message); this.code = code; }
  }
  async function api(path, { method = "GET", body, raw = false } = {}) {
    const headers = { Authorization: `Bearer ${token}` };
    let payload = body;
    if (body !== undefined && !(body instanceof FormData)) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const response = await fetch(base + path, { method, headers, body: payload, cache: "no-store" });
    if (!response.ok) {
      let message = response.statusText;
      try {
        message = humane(await response.json(), message);
      } catch { /* not JSON */ }
      if (response.status === 404 && message === "Not Found") message = "not available on this server yet";
      if (response.status === 429) message = `too many requests; try again in ${response.headers.get("Retry-After") || "a few"} seconds`;
      throw new ApiError(message, response.status);
    }
    if (raw) return response;
    return response.status === 204 ? null : response.json();
  }
  const unavailable = (error) => error instanceof ApiError && error.code === 404 && error.message.includes("not available");

  // ---- unlocking ----
  async function unlock(focusConsole = false) {
    $("token-error").textContent = "";
    try {
      await api("/moderation/policy");
    } catch (error) {
      if (error.code === 401 || error.code === 403) {
        $("token-error").textContent = "That token is not this event's organizer token.";
        sessionStorage.removeItem(tokenKey);
        return;
      }
      if (!unavailable(error)) { $("token-error").textContent = `Could not check the token: ${error.message}`; return; }
    }
    sessionStorage.setItem(tokenKey, token);
    $("token-form").hidden = true;
    $("token-ok").hidden = false;
    $("console").hidden = false;
    status("Console unlocked.");
    loadAll();
    // the token field just went away: keep the keyboard in the console, not back at the top of the page
    if (focusConsole) $("moderation-h").focus();
  }
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    token = $("token-input").value.trim();
    $("token-input").value = "";
    if (token) unlock(true);
  });
  $("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(tokenKey);
    token = "";
    $("console").hidden = true;
    $("token-ok").hidden = true;
    $("token-form").hidden = false;
    $("token-input").focus();
  });

  // ---- moderation queue ----
  let queue = "queue";
  let queueLoads = 0;
  // A talk picked but not yet filed (Move not pressed) outlives the list being drawn again: the 20 s refresh, or
  // the redraw after the previous Move, must not put the picker back under the organizer's hand.
  const picked = new Map();
  let drawn = ""; // the items the list shows, as fetched: a refresh that brings the same draws nothing
  let talks = []; // the event's talks (``loadTalks``), for putting a post on the one it is about
  let talksLoading = Promise.resolve();
  async function loadQueue() {
    const list = $("queue-list");
    const notice = $("queue-notice");
    const shown = queue;
    const load = ++queueLoads;
    if (list.dataset.shows !== shown) notice.textContent = "Loading…"; // the tab in view is refreshed quietly
    try {
      if (shown !== "queue" && shown !== "hidden") await talksLoading; // their pickers list the talks
      const path = { recent: "/posts?limit=50", questions: "/moderation/questions?limit=100", hidden: "/moderation/hidden" }[shown] || "/moderation/queue";
      const data = await api(path);
      // a slower answer for the tab the organizer just left must not draw over the one they chose
      if (load !== queueLoads) return;
      if (shown === "queue") showWaiting(data.items.length, 100); else countWaiting();
      const items = JSON.stringify([talks, data.items]); // the talks too: the pickers list them
      if (list.dataset.shows === shown && items === drawn) return; // nothing new: nothing moves under the organizer
      const held = heldInList(list);
      list.replaceChildren(...data.items.map(shown === "questions" ? renderQuestion : renderQueueItem));
      [list.dataset.shows, drawn] = [shown, items];
      restoreInList(list, held);
      notice.textContent = data.items.length ? "" : {
        queue: "Nothing is waiting for approval.", recent: "No posts yet.", questions: "No questions yet.", hidden: "No hidden posts.",
      }[shown];
    } catch (error) {
      if (load !== queueLoads) return;
      list.replaceChildren();
      list.dataset.shows = "";
      notice.textContent = unavailable(error) ? "Moderation is not available on this server yet." : `Could not load: ${error.message}`;
    }
  }
  // Posts wait unseen while the organizer reads another tab: the "Waiting for approval" tab counts them.
  function showWaiting(count, limit) {
    const tab = document.querySelector("[data-queue=queue]");
    tab.textContent = count ? `Waiting for approval (${count >= limit ? `${limit}+` : count})` : "Waiting for approval";
  }
  async function countWaiting() {
    try { showWaiting((await api("/moderation/queue?limit=500")).items.length, 500); } catch { /* the tab still works */ }
  }
  function renderQueueItem(p) {
    const li = el("li", `queue-item${p.status === "hidden" ? " hidden-post" : ""}`);
    li.dataset.postId = p.id;
    const meta = el("p", "meta");
    const who = p.author.name || (p.author.handle && !p.author.handle.startsWith("anon-") ? p.author.handle : "Anonymous");
    meta.append(el("span", "author", who), ` via ${p.source} · `, el("span", null, timeFmt.format(new Date(p.created_at))));
    if (p.kind !== "other") meta.append(" ", el("span", "badge", p.kind));
    if (p.status !== "visible") meta.append(" ", el("span", "badge", p.status));
    if (p.pinned) meta.append(" ", el("span", "badge pin", "pinned"));
    if (p.marked_answered) meta.append(" ", el("span", "badge answered", "marked answered"));
    if (p.moderation_reason) meta.append(" ", el("span", "notice", `(${p.moderation_reason})`));
    const actions = el("div", "actions");
    if (p.status !== "visible" && p.status !== "hidden") actions.append(button("Approve", "approve"));
    if (p.status === "hidden") actions.append(button("Unhide", "unhide"));
    else actions.append(button("Hide", "hide"));
    actions.append(p.pinned ? button("Unpin", "unpin") : button("Pin", "pin"));
    // answered on stage, with no answer posted: followers see it answered, the summaries count it answered
    if (p.marked_answered) actions.append(button("Mark not answered", "unmark-answered"));
    else if (p.kind === "question") actions.append(button("Mark answered", "mark-answered"));
    if (p.author.handle) actions.append(button("Block author", "block", { source: p.source, handle: p.author.handle }));
    li.append(meta, el("p", "text", p.text), actions);
    if (p.status === "visible" && talks.length) li.append(talkPicker(p));
    return li;
  }
  // the clustering stage put it on the wrong talk, or on none: the organizer files it where it belongs
  function talkPicker(p) {
    const row = el("div", "actions talk-picker");
    const label = el("label", null, "Talk ");
    const select = el("select");
    select.dataset.role = "talk";
    const current = talks.find((t) => t.id === p.talk_id);
    // a post about no talk (chatter, the venue) moved out of one goes back to the hallway, and stays there
    const hallway = el("option", null, "The hallway (about no talk)");
    hallway.value = "hallway";
    select.append(hallway);
    // the talks running when it was posted first (as the clustering stage weighs time): a congress has hundreds
    const at = Date.parse(p.created_at);
    const running = (t) => Date.parse(t.start) - 10 * 60e3 <= at && at <= Date.parse(t.end) + 30 * 60e3;
    const groups = [["Running then", talks.filter(running)], ["Other talks", talks.filter((t) => !running(t))]];
    for (const [name, members] of groups) {
      const group = el("optgroup");
      group.label = name;
      for (const t of members) {
        if (t.cancelled && t.id !== p.talk_id) continue;
        const option = el("option", null, t.room ? `${t.title} (${t.room})` : t.title);
        option.value = String(t.id);
        group.append(option);
      }
      if (group.children.length) select.append(group);
    }
    select.value = current ? String(current.id) : "hallway";
    const choice = picked.get(String(p.id));
    if (choice && select.querySelector(`option[value="${choice}"]`)) select.value = choice;
    select.addEventListener("change", () => picked.set(String(p.id), select.value));
    label.append(select);
    row.append(label, button("Move", "file"));
    return row;
  }
  // One question once, as followers see it listed: how often it was asked, its votes, where, answered or
  // not; the copies asked again (other words, other networks) under it, each still hidden or blocked alone.
  function renderQuestion(q) {
    const li = renderQueueItem(q.question);
    const about = el("p", "meta question-facts");
    const facts = [];
    if (q.asked > 1) facts.push(`Asked ${q.asked}×`);
    facts.push(`${q.votes} vote${q.votes === 1 ? "" : "s"}`);
    facts.push(q.answered ? (q.answers ? `answered (${q.answers} answer${q.answers === 1 ? "" : "s"})` : "answered") : "open");
    facts.push(q.talk_title ? `in ${q.talk_title}` : "in the hallway");
    about.textContent = facts.join(" · ");
    li.querySelector(".meta").after(about);
    if (q.copies.length) {
      const more = el("details", "copies");
      more.append(el("summary", null, `${q.copies.length} other cop${q.copies.length === 1 ? "y" : "ies"} of this question`));
      const copies = el("ol", "queue-copies");
      copies.append(...q.copies.map(renderQueueItem));
      more.append(copies);
      li.append(more);
    }
    return li;
  }
  for (const tab of document.querySelectorAll("[data-queue]")) {
    tab.addEventListener("click", () => {
      queue = tab.dataset.queue;
      document.querySelectorAll("[data-queue]").forEach((t) => t.setAttribute("aria-pressed", String(t === tab)));
      loadQueue();
    });
  }
  $("queue-refresh").addEventListener("click", loadQueue);
  // The list was drawn again, so the control in hand is gone: focus the same post's (`control`, a selector), else
  // its first button (still listed, e.g. after a pin), or the post that took its place, or the list's heading,
  // never the page's top.
  const UNDO = { pin: "unpin", unpin: "pin", "mark-answered": "unmark-answered", "unmark-answered": "mark-answered" };
  const pressed = (action) => `button[data-action="${UNDO[action] || action}"]`;
  function refocusQueue(id, control) {
    const items = [...$("queue-list").children];
    const same = $("queue-list").querySelector(`.queue-item[data-post-id="${id}"]`);
    const folded = same?.closest("details");
    if (folded) folded.open = true; // a question's copy acted on: its copies stay in view
    const target = (control && same?.querySelector(control))
      || same?.querySelector("button") || items.find((li) => Number(li.dataset.postId) < Number(id))?.querySelector("button")
      || items.at(-1)?.querySelector("button") || $("moderation-h");
    target.focus();
  }
  // What the organizer has in hand when new posts redraw the list (the 20 s refresh): the copies they unfolded
  // and the control they are on, found again on the same post. Without it a keyboard or screen-reader user
  // working down the queue is thrown back to the page's top every 20 s.
  function heldInList(list) {
    const open = [...list.querySelectorAll(".queue-item > details[open]")].map((d) => d.parentElement.dataset.postId);
    const active = list.contains(document.activeElement) ? document.activeElement : null;
    const item = active?.closest(".queue-item");
    const control = !item ? null : active.dataset.action ? `button[data-action="${active.dataset.action}"]`
      : active.dataset.role ? `select[data-role="${active.dataset.role}"]` : active.tagName === "SUMMARY" ? "summary" : null;
    return { open, id: item?.dataset.postId, control };
  }
  function restoreInList(list, held) {
    for (const id of held.open) list.querySelector(`.queue-item[data-post-id="${id}"] > details`)?.setAttribute("open", "");
    if (held.id) refocusQueue(held.id, held.control);
  }
  $("queue-list").addEventListener("click", async (event) => {
    const b = event.target.closest("button[data-action]");
    if (!b) return;
    const id = b.closest(".queue-item").dataset.postId;
    b.disabled = true;
    try {
      if (b.dataset.action === "block") {
        const result = await api("/moderation/blocks", { method: "POST", body: { source: b.dataset.source, handle: b.dataset.handle } });
        const hidden = result.posts_hidden ?? 0;
        status(`Blocked ${result.handle}; ${hidden} post${hidden === 1 ? "" : "s"} hidden.`);
        loadBlocks();
      } else if (b.dataset.action === "file") {
        const select = b.closest(".queue-item").querySelector("select[data-role=talk]");
        const [choice, title] = [select.value, select.selectedOptions[0].textContent];
        const filed = await api(`/moderation/posts/${id}/talk`, { method: "POST", body: { talk_id: choice === "hallway" ? null : Number(choice) } });
        if (picked.get(id) === choice) picked.delete(id); // filed; a newer pick made meanwhile stays
        const along = filed.answers_moved ? ` with its ${filed.answers_moved === 1 ? "answer" : `${filed.answers_moved} answers`}` : "";
        status(`${filed.kind === "question" ? "Question" : "Post"} moved to ${choice === "hallway" ? "the hallway" : `“${title}”`}${along}.`);
      } else {
        await api(`/moderation/posts/${id}/${b.dataset.action}`, { method: "POST", body: b.dataset.action === "hide" ? {} : undefined });
        status({
          approve: "Post approved.", hide: "Post hidden.", unhide: "Post shown again.", pin: "Post pinned.", unpin: "Post unpinned.",
          "mark-answered": "Question marked answered.", "unmark-answered": "Question no longer marked answered.",
        }[b.dataset.action]);
      }
      await loadQueue();
      refocusQueue(id, pressed(b.dataset.action));
    } catch (error) {
      const doing = { "mark-answered": "mark it answered", "unmark-answered": "take the mark back", file: "move it" }[b.dataset.action] || b.dataset.action;
      $("queue-notice").textContent = `Could not ${doing}: ${error.message}`;
    } finally {
      b.disabled = false;
    }
  });

  // ---- rules and blocks ----
  async function loadPolicy() {
    try {
      const policy = await api("/moderation/policy");
      $("policy-premod").checked = policy.premoderation;
      $("policy-keywords").value = policy.keywords.join("\n");
      $("policy-rate").value = policy.max_posts_per_minute ?? "";
      $("policy-form").dataset.loaded = "1"; // the form now shows the saved rules: safe to edit and save
      $("policy-form").querySelector("button[type=submit]").disabled = false;
    } catch (error) {
      $("policy-error").textContent = unavailable(error) ? "Rules are not available on this server yet." : error.message;
      $("policy-form").querySelector("button[type=submit]").disabled = unavailable(error);
    }
  }
  $("policy-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("policy-error").textContent = "";
    const rate = $("policy-rate").value.trim();
    try {
      await api("/moderation/policy", {
        method: "PATCH",
        body: {
          premoderation: $("policy-premod").checked,
          keywords: $("policy-keywords").value.split("\n").map((k) => k.trim()).filter(Boolean),
          max_posts_per_minute: rate ? Number(rate) : null,
        },
      });
      status("Rules saved.");
    } catch (error) {
      $("policy-error").textContent = `Not saved: ${error.message}`;
    }
  });
  async function loadBlocks() {
    const list = $("blocks-list");
    try {
      const data = await api("/moderation/blocks");
      list.replaceChildren(...data.items.map((b) => {
        const li = el("li", null, `${b.handle} (${b.source}) `);
        li.append(button("Unblock", "unblock", { source: b.source, handle: b.handle }));
        return li;
      }));
      if (!data.items.length) list.replaceChildren(el("li", "notice", "Nobody is blocked."));
    } catch (error) {
      list.replaceChildren(el("li", "notice", unavailable(error) ? "Blocking is not available on this server yet." : error.message));
    }
  }
  $("blocks-list").addEventListener("click", async (event) => {
    const b = event.target.closest("button[data-action=unblock]");
    if (!b) return;
    try {
      await api(`/moderation/blocks?source=${encodeURIComponent(b.dataset.source)}&handle=${encodeURIComponent(b.dataset.handle)}`, { method: "DELETE" });
      status(`Unblocked ${b.dataset.handle}: new posts show again; posts hidden by the block stay in "Hidden".`);
    } catch (error) {
      status(`Could not unblock: ${error.message}`);
    }
    loadBlocks();
  });

  // ---- sources and their health ----
  const STATES = {
    pending: "waiting to start", connecting: "connecting…", connected: "connected", backing_off: "retrying",
    paused: "paused", stopped: "stopped", failed: "stopped: its settings were refused; remove it and add it again",
  };
  async function loadSources() {
    const body = $("sources-body");
    try {
      const data = await api("/sources");
      if (!data.items.length) { body.replaceChildren(el("p", "notice", "No sources yet: in-app notes only.")); return; }
      const table = el("table");
      const head = el("tr");
      for (const h of ["Source", "Health", "Posts", "Actions"]) { const th = el("th", null, h); th.scope = "col"; head.append(th); }
      table.append(el("thead"), el("tbody"));
      table.tHead.append(head);
      for (const s of data.items) {
        const row = el("tr");
        const where = s.config.instance_url || s.config.jetstream_url || "";
        const tags = s.config.hashtag || (s.config.hashtags || []).join(" ");
        const what = el("td");
        what.append(el("strong", null, s.kind), el("br"), el("span", "notice", [where, tags && `#${String(tags).replace(/^#/, "")}`].filter(Boolean).join(" ")));
        const st = s.status || {};
        const health = el("td");
        const ok = !s.paused && st.connected && !st.last_error;
        const state = s.paused ? "paused" : st.state || (st.connected ? "connected" : "not connected");
        health.append(el("span", ok ? "status-ok" : "status-bad", STATES[state] || state));
        if (st.lag_seconds != null) health.append(el("br"), el("span", "notice", `lag ${Math.round(st.lag_seconds)} s`));
        if (st.last_item_at) health.append(el("br"), el("span", "notice", `last post ${timeFmt.format(new Date(st.last_item_at))}`));
        if (st.last_error) health.append(el("br"), el("span", "status-bad", st.last_error));
        const counts = el("td", null, `${st.accepted ?? 0} in, ${st.skipped ?? 0} skipped, ${st.malformed ?? 0} malformed`);
        const act = el("td");
        act.append(button(s.paused ? "Resume" : "Pause", "toggle", { id: s.id, paused: s.paused ? "1" : "" }), " ",
          button("Remove", "remove-source", { id: s.id }));
        row.append(what, health, counts, act);
        table.tBodies[0].append(row);
      }
      // the 20 s refresh redraws the table: the organizer's hand stays on the same source's button
      const active = body.contains(document.activeElement) ? document.activeElement.dataset : null;
      body.replaceChildren(table);
      if (active?.id) body.querySelector(`button[data-id="${active.id}"][data-action="${active.action}"]`)?.focus();
    } catch (error) {
      body.replaceChildren(el("p", "notice", unavailable(error) ? "Source management is not available on this server yet." : `Could not load: ${error.message}`));
    }
  }
  $("sources-body").addEventListener("click", async (event) => {
    const gone = event.target.closest("button[data-action=remove-source]");
    if (gone) {
      if (!window.confirm("Remove this source? Posts it already brought stay.")) return;
      try {
        await api(`/sources/${gone.dataset.id}`, { method: "DELETE" });
        status("Source removed.");
      } catch (error) {
        status(`Could not remove the source: ${error.message}`);
      }
      loadSources();
      return;
    }
    const b = event.target.closest("button[data-action=toggle]");
    if (!b) return;
    try {
      await api(`/sources/${b.dataset.id}`, { method: "PATCH", body: { paused: !b.dataset.paused } });
      status(b.dataset.paused ? "Source resumed." : "Source paused.");
    } catch (error) {
      status(`Could not change the source: ${error.message}`);
    }
    loadSources();
  });
  // Mastodon wants an instance (its name, address or any page of it), Bluesky a Jetstream wss:// address: say
  // which, as the kind changes. Not an <input type=url>: the browser refused "chaos.social" without a word.
  const SOURCE_URLS = {
    mastodon: { label: "Instance", placeholder: "mastodon.social" },
    bluesky: { label: "Jetstream URL", placeholder: "wss://jetstream2.us-east.bsky.network/subscribe" },
  };
  function showSourceKind() {
    const kind = SOURCE_URLS[$("source-kind").value] || SOURCE_URLS.mastodon;
    $("source-url-label").textContent = kind.label;
    $("source-url").placeholder = kind.placeholder;
    $("source-error").textContent = "";
  }
  $("source-kind").addEventListener("change", showSourceKind);
  $("source-form").addEventListener("reset", () => setTimeout(showSourceKind));
  $("source-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("source-error").textContent = "";
    const kind = $("source-kind").value;
    const url = $("source-url").value.trim();
    const tag = $("source-tag").value.trim().replace(/^#/, "");
    const config = kind === "mastodon" ? { instance_url: url, hashtag: tag } : { jetstream_url: url, hashtags: [tag] };
    try {
      await api("/sources", { method: "POST", body: { kind, config } });
      status("Source added.");
      event.target.reset();
      loadSources();
    } catch (error) {
      $("source-error").textContent = `Not added: ${error.message}`;
    }
  });

  // ---- schedule import ----
  $("schedule-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("schedule-error").textContent = "";
    $("schedule-report").textContent = "";
    const file = $("schedule-file").files[0];
    const url = $("schedule-url").value.trim();
    let body;
    if (file) { body = new FormData(); body.append("file", file); }
    else if (url) body = { url };
    else { $("schedule-error").textContent = "Choose a file or give a URL."; return; }
    try {
      // an import cancels every talk the file lacks: say which before doing it
      const preview = await api("/schedule?dry_run=true", { method: "POST", body });
      if (preview.cancelled > 0) {
        const named = preview.cancelled_titles.slice(0, 5).map((t) => `• ${t}`).join("\n");
        const more = preview.cancelled > 5 ? `\n… and ${preview.cancelled - 5} more` : "";
        const talks = preview.cancelled === 1 ? "1 talk" : `${preview.cancelled} talks`;
        if (!window.confirm(`This file does not have ${talks} of the event, which the import will mark cancelled:\n${named}${more}\n\nImport it anyway?`)) {
          $("schedule-report").textContent = "Not imported: nothing changed.";
          return;
        }
      }
      const report = await api("/schedule", { method: "POST", body });
      $("schedule-report").textContent = `Imported ${report.talks} talks in ${report.rooms} rooms: ${report.created} new, ${report.updated} updated, ${report.unchanged} unchanged, ${report.cancelled} cancelled.${report.warnings.length ? ` Warnings: ${report.warnings.slice(0, 5).join("; ")}` : ""}`;
      status("Schedule imported.");
      talksLoading = loadTalks();
    } catch (error) {
      $("schedule-error").textContent = `Not imported: ${error.message}`;
    }
  });

  // ---- exports: fetched with the token, then saved as a file ----
  // A big event's PDF takes seconds to print: a greyed button alone looked like nothing was happening.
  const preparing = new Map();
  const showPreparing = () => { $("export-progress").textContent = [...preparing.values()].join(" "); };
  $("export-buttons").addEventListener("click", async (event) => {
    const b = event.target.closest("button[data-export]");
    if (!b) return;
    $("export-error").textContent = "";
    b.disabled = true;
    const talk = $("export-talk").value;
    const what = talk ? "this session's summary" : "the whole event's summaries";
    const format = b.dataset.export === "zip" ? "ZIP" : b.textContent.trim();
    const slow = setTimeout(() => { preparing.set(b, `Preparing ${what} as ${format}…`); showPreparing(); }, 600);
    try {
      const path = talk ? `/talks/${encodeURIComponent(talk)}/export` : "/export";
      const response = await api(`${path}?format=${b.dataset.export}`, { raw: true });
      const disposition = response.headers.get("Content-Disposition") || "";
      const name = (disposition.match(/filename="?([^";]+)"?/) || [])[1] || `${slug}.${b.dataset.export}`;
      const href = URL.createObjectURL(await response.blob());
      const link = el("a");
      link.href = href;
      link.download = name;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(href), 10000);
      status(`Downloaded ${name}.`);
    } catch (error) {
      $("export-error").textContent = unavailable(error) ? "Exports are not available on this server yet." : `Export failed: ${error.message}`;
    } finally {
      clearTimeout(slow);
      preparing.delete(b);
      showPreparing();
      b.disabled = false;
      showExportChoice();  // a session chosen meanwhile still leaves the ZIP off
    }
  });

  // One session's summary or the whole event's; a ZIP only bundles a whole event.
  async function loadTalks() {
    const select = $("export-talk");
    const chosen = select.value;
    try {
      const data = await api("/talks");
      talks = data.items;
      const day = new Intl.DateTimeFormat(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit", timeZone: zone });
      const options = data.items.filter((t) => !t.cancelled).map((t) => {
        const option = el("option", null, [t.start && day.format(new Date(t.start)), t.room, t.title].filter(Boolean).join(" · "));
        option.value = String(t.id);
        return option;
      });
      select.replaceChildren(select.options[0], ...options);
      select.value = options.some((o) => o.value === chosen) ? chosen : "";
    } catch { /* the whole event's export still works */ }
    showExportChoice();
  }
  function showExportChoice() {
    const zip = document.querySelector("button[data-export=zip]");
    zip.disabled = $("export-talk").value !== "";
    zip.title = zip.disabled ? "A ZIP holds the whole event; choose it above" : "";
  }
  $("export-talk").addEventListener("change", showExportChoice);

  // ---- event details and the token ----
  // The zone is typed as an IANA name; the page lists the server's zones (pages.time_zones), the ones it accepts.
  async function loadDetails() {
    const form = $("details-form");
    try {
      const details = await api("");
      $("details-name").value = details.name;
      $("details-hashtags").value = details.hashtags.map((t) => `#${t}`).join(" ");
      $("details-zone").value = details.time_zone;
      $("details-starts").value = details.starts_on || "";
      $("details-ends").value = details.ends_on || "";
      $("details-description").value = details.description;
      form.querySelector("button[type=submit]").disabled = false;
    } catch (error) {
      $("details-error").textContent = `Could not load the details: ${error.message}`;
    }
  }
  $("details-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("details-error").textContent = "";
    try {
      const saved = await api("", {
        method: "PATCH",
        body: {
          name: $("details-name").value.trim(),
          hashtags: $("details-hashtags").value.split(/[\s,]+/).filter(Boolean),
          time_zone: $("details-zone").value.trim(),
          starts_on: $("details-starts").value || null,
          ends_on: $("details-ends").value || null,
          description: $("details-description").value.trim(),
        },
      });
      for (const name of document.querySelectorAll(".event-name a")) name.textContent = saved.name;
      status("Details saved.");
    } catch (error) {
      $("details-error").textContent = `Not saved: ${error.message}`;
    }
  });
  $("token-rotate").addEventListener("click", async () => {
    $("token-rotate-error").textContent = "";
    if (!window.confirm("Replace the organizer token? The current one stops working everywhere at once.")) return;
    try {
      const rotated = await api("/token/rotate", { method: "POST" });
      token = rotated.organizer_token;
      sessionStorage.setItem(tokenKey, token);
      $("token-new-value").value = token;
      $("token-new").hidden = false;
      status("Organizer token replaced.");
    } catch (error) {
      $("token-rotate-error").textContent = `Not replaced: ${error.message}`;
    }
  });

  function loadAll() { talksLoading = loadTalks(); loadQueue(); loadPolicy(); loadBlocks(); loadSources(); loadDetails(); }
  setInterval(() => { if (token && !$("console").hidden && document.visibilityState === "visible") { loadQueue(); loadSources(); } }, 20000);
  if (token) unlock();
})();

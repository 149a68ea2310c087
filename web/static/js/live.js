// Backchannel live page: keeps the server-rendered page current over the WebSocket.
// User text is only ever inserted with textContent, never as HTML.
(() => {
  "use strict";
  const body = document.body;
  const slug = body.dataset.event;
  if (!slug) return;
  let lastId = Number(body.dataset.lastId || 0);
  const FEED_CAP = 200;
  const PER_TALK = 5;
  const zone = body.dataset.tz || "UTC";
  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: zone });

  // ---- identity kept in this browser ----
  const cookieId = (document.cookie.match(/(?:^|;\s*)bc_client=([^;]+)/) || [])[1];
  let clientId = cookieId || localStorage.getItem("bc_client");
  if (!clientId) {
    clientId = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  localStorage.setItem("bc_client", clientId);
  const store = (key, fallback) => { try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; } };
  const mine = store(`bc_mine:${slug}`, {});        // post id -> delete token
  const voted = new Set(store(`bc_voted:${slug}`, []));
  const save = () => {
    localStorage.setItem(`bc_mine:${slug}`, JSON.stringify(mine));
    localStorage.setItem(`bc_voted:${slug}`, JSON.stringify([...voted]));
  };

  // ---- connection indicator ----
  const conn = document.getElementById("conn");
  const setConn = (state, text) => {
    if (!conn) return;
    conn.classList.remove("live", "down");
    if (state) conn.classList.add(state);
    conn.querySelector(".label").textContent = text;
  };

  // ---- rendering ----
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  function renderPost(p, anchor) {
    const li = el("li", `post kind-${p.kind}`);
    if (anchor) li.id = `post-${p.id}`;
    li.dataset.postId = p.id;
    li.dataset.version = p.version;
    li.dataset.talkId = p.talk_id ?? "";
    li.dataset.kind = p.kind;
    const meta = el("p", "meta");
    meta.append(el("span", "author", p.author.name || p.author.handle || "Anonymous"), " ");
    meta.append(el("span", "source", `via ${p.source}`), " ");
    const time = el("time", null, timeFmt.format(new Date(p.created_at)));
    time.dateTime = p.created_at;
    meta.append(time);
    if (p.kind !== "other") meta.append(" ", el("span", "badge", p.kind));
    li.append(meta);
    if (p.spoiler_text) {
      const details = el("details");
      details.append(el("summary", null, p.spoiler_text), el("p", "text", p.text));
      li.append(details);
    } else {
      li.append(el("p", "text", p.text));
    }
    const form = el("form", "vote");
    form.method = "post";
    form.action = `/e/${slug}/posts/${p.id}/upvote`;
    const button = el("button", "upvote");
    button.type = "submit";
    button.setAttribute("aria-label", `Upvote (${p.upvotes} so far)`);
    const arrow = el("span", null, "▲");
    arrow.setAttribute("aria-hidden", "true");
    button.append(arrow, " ", el("span", "count", p.upvotes));
    form.append(button);
    li.append(form);
    decorate(li);
    return li;
  }

  function decorate(li) {
    const id = li.dataset.postId;
    const button = li.querySelector(".upvote");
    if (button) button.setAttribute("aria-pressed", voted.has(id) ? "true" : "false");
    if (mine[id]) {
      li.classList.add("mine");
      if (!li.querySelector(".delete")) {
        const del = el("button", "delete", "Delete my post");
        del.type = "button";
        del.dataset.action = "delete";
        li.querySelector(".meta")?.append(" ", del);
      }
    }
  }

  const allCopies = (id) => document.querySelectorAll(`.post[data-post-id="${CSS.escape(String(id))}"]`);

  function upsertInto(list, p, { prepend = true, cap = FEED_CAP, anchor = false } = {}) {
    if (!list) return;
    const existing = list.querySelector(`:scope > .post[data-post-id="${p.id}"]`);
    const fresh = renderPost(p, anchor);
    if (existing) {
      if (Number(existing.dataset.version) >= p.version) return;
      existing.replaceWith(fresh);
      return;
    }
    fresh.classList.add("fresh");
    if (prepend) list.prepend(fresh); else list.append(fresh);
    while (list.children.length > cap) list.lastElementChild.remove();
  }

  function applyPost(p) {
    if (p.status && p.status !== "visible") { removePost(p.id); return; }
    for (const copy of allCopies(p.id)) {
      if (Number(copy.dataset.version) >= p.version) return; // already newer or same: nothing to do
    }
    upsertInto(document.getElementById("feed-list"), p, { anchor: true });
    // the talk card it belongs to (and only that one)
    for (const copy of document.querySelectorAll(`.talk-posts > .post[data-post-id="${p.id}"]`)) {
      if (copy.closest(".card")?.dataset.talkId !== String(p.talk_id ?? "")) copy.remove();
    }
    if (p.talk_id != null && p.kind !== "answer") {
      upsertInto(document.querySelector(`.card[data-talk-id="${p.talk_id}"] .talk-posts`), p, { cap: PER_TALK });
    }
    const questions = document.getElementById("questions");
    if (p.kind === "question") {
      upsertInto(questions, p, { cap: 30 });
      document.getElementById("questions-empty")?.remove();
    } else if (p.kind === "answer" && p.reply_to_id != null && questions) {
      const question = questions.querySelector(`:scope > .post[data-post-id="${p.reply_to_id}"]`);
      if (question) {
        const existing = questions.querySelector(`:scope > .post[data-post-id="${p.id}"]`);
        const fresh = renderPost(p, false);
        if (mine[String(p.reply_to_id)]) fresh.classList.add("answer-to-mine");
        if (existing) existing.replaceWith(fresh); else question.after(fresh);
      }
    }
  }

  function removePost(id) { for (const copy of allCopies(id)) copy.remove(); }

  function applyVote(d) {
    for (const copy of allCopies(d.id)) {
      const count = copy.querySelector(".count");
      if (count) count.textContent = String(d.upvotes);
      copy.querySelector(".upvote")?.setAttribute("aria-label", `Upvote (${d.upvotes} so far)`);
      copy.dataset.version = String(Math.max(Number(copy.dataset.version), d.version));
    }
  }

  function applyTalk(t) {
    const card = document.querySelector(`.card[data-talk-id="${t.id}"]`);
    if (!card) { scheduleRefresh(); return; }
    card.querySelector(".title").textContent = t.title;
    const room = card.querySelector(".room");
    if (room) room.textContent = t.room || "";
  }

  // ---- frames, applied in batches once per animation frame ----
  let pending = [];
  let scheduled = false;
  function enqueue(frame) {
    pending.push(frame);
    if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
  }
  function flush() {
    scheduled = false;
    const frames = pending;
    pending = [];
    for (const f of frames) {
      switch (f.type) {
        case "post.created": case "post.updated": case "post.attributed": applyPost(f.data); break;
        case "post.deleted": case "post.hidden": removePost(f.data.id); break;
        case "post.upvoted": applyVote(f.data); break;
        case "talk.updated": applyTalk(f.data); break;
        default: document.dispatchEvent(new CustomEvent("backchannel:frame", { detail: f }));
      }
    }
  }

  // ---- resync: reload the live parts of the page from the server ----
  let refreshTimer = null;
  function scheduleRefresh() { if (!refreshTimer) refreshTimer = setTimeout(refresh, 300); }
  async function refresh() {
    refreshTimer = null;
    const response = await fetch(location.pathname, { headers: { Accept: "text/html" }, cache: "no-store" });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const selector of [".talks", "#questions", "#feed-list"]) {
      const fresh = doc.querySelector(selector);
      const current = document.querySelector(selector);
      if (fresh && current) current.replaceWith(document.importNode(fresh, true));
    }
    document.querySelectorAll(".post").forEach(decorate);
    lastId = Number(doc.body.dataset.lastId || lastId);
  }

  // ---- the socket, resuming with after= ----
  let socket = null;
  let attempt = 0;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/events/${encodeURIComponent(slug)}?after=${lastId}`);
    socket.onopen = () => { attempt = 0; setConn("live", "Live"); };
    socket.onmessage = (message) => {
      let payload;
      try { payload = JSON.parse(message.data); } catch { return; }
      for (const frame of Array.isArray(payload) ? payload : [payload]) {
        if (frame.type === "heartbeat") continue;
        if (frame.type === "resync") { refresh(); continue; }
        if (frame.id != null) {
          if (frame.id <= lastId) continue; // already applied: never twice
          lastId = frame.id;
        }
        enqueue(frame);
      }
    };
    socket.onclose = (closing) => {
      socket = null;
      const delay = Math.min(15000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
      attempt += 1;
      setConn("down", "Reconnecting…");
      const again = () => (closing.code === 4409 ? refresh().finally(connect) : connect());
      setTimeout(again, closing.code === 1000 ? 0 : delay);
    };
  }
  window.backchannel = { dropConnection: () => socket?.close(4000, "test"), get lastId() { return lastId; } };
  document.querySelectorAll(".post").forEach(decorate);
  connect();

  // ---- posting, voting and deleting without leaving the page ----
  const api = (path, options = {}) => fetch(`/api/events/${encodeURIComponent(slug)}${path}`, {
    ...options, headers: { "Content-Type": "application/json", "X-Client-Id": clientId, ...(options.headers || {}) },
  });
  const message = async (response) => {
    try { const data = await response.json(); return data.error?.message || response.statusText; } catch { return response.statusText; }
  };

  const form = document.getElementById("post-form");
  const text = document.getElementById("post-text");
  const counter = document.getElementById("post-counter");
  const error = document.getElementById("post-error");
  text?.addEventListener("input", () => { counter.textContent = `${text.value.length} / 1000`; });
  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const data = new FormData(form);
    const note = String(data.get("text") || "").trim();
    if (!note) { error.textContent = "Write something first."; text.focus(); return; }
    if (note.length > 1000) { error.textContent = "That is longer than 1,000 characters."; return; }
    const talk = String(data.get("talk_id") || "");
    const payload = { text: note, kind: data.get("kind") === "question" ? "question" : "note" };
    if (talk) payload.talk_id = Number(talk);
    const name = String(data.get("display_name") || "").trim();
    if (name) payload.display_name = name;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const response = await api("/posts", { method: "POST", body: JSON.stringify(payload) });
      if (response.status === 429) {
        error.textContent = `Slow down a little: try again in ${response.headers.get("Retry-After") || "a few"} seconds.`;
      } else if (!response.ok) {
        error.textContent = await message(response);
      } else {
        const created = await response.json();
        mine[String(created.post.id)] = created.delete_token;
        save();
        applyPost(created.post);
        form.reset();
        counter.textContent = "";
      }
    } catch {
      error.textContent = "Could not reach the server. Your note was not sent.";
    } finally {
      button.disabled = false;
    }
  });

  document.addEventListener("submit", async (event) => {
    const vote = event.target.closest("form.vote");
    if (!vote) return;
    event.preventDefault();
    const li = vote.closest(".post");
    const id = li.dataset.postId;
    if (voted.has(id)) return;
    const response = await api(`/posts/${id}/upvote`, { method: "POST" });
    if (response.ok || response.status === 409) {
      voted.add(id);
      save();
      if (response.ok) applyVote({ id, version: Number(li.dataset.version), ...(await response.json()) });
      for (const copy of allCopies(id)) decorate(copy);
    }
  });

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action=delete]");
    if (!button) return;
    const id = button.closest(".post").dataset.postId;
    const response = await api(`/posts/${id}`, { method: "DELETE", headers: { "X-Delete-Token": mine[id] || "" } });
    if (response.ok || response.status === 404) {
      delete mine[id];
      save();
      removePost(id);
    }
  });
})();

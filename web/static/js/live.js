// Backchannel live pages (event, talk, wall, embed): keeps the server-rendered page current over the WebSocket.
// User text is only ever inserted with textContent (or as inert server-rendered HTML), never as script.
(() => {
  "use strict";
  const body = document.body;
  const slug = body.dataset.event;
  if (!slug) return;
  let lastId = Number(body.dataset.lastId || 0);
  const FEED_CAP = 200;
  const PER_TALK = 5;
  const zone = body.dataset.tz || "UTC";
  const talkOnly = body.dataset.talk || "";          // talk page and embed: one talk's frames
  const readonly = body.dataset.readonly === "1";    // wall and embed: no buttons
  const filterKind = body.dataset.filterKind || "";
  const filterLang = (body.dataset.filterLang || "").toLowerCase();
  const filterTalks = (body.dataset.filterTalks || "").trim() ? new Set(body.dataset.filterTalks.trim().split(/\s+/)) : null;
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

  // ---- connection indicator (quiet: a dot and a word) ----
  const conn = document.getElementById("conn");
  const setConn = (state, text) => {
    if (!conn) return;
    conn.classList.remove("live", "down");
    if (state) conn.classList.add(state);
    conn.querySelector(".label").textContent = text;
  };

  // ---- a polite, throttled announcement of new items for screen readers ----
  const announcer = document.getElementById("announcer");
  let unannounced = 0;
  let announceTimer = null;
  function announce() {
    unannounced += 1;
    if (!announcer || announceTimer) return;
    announceTimer = setTimeout(() => {
      announceTimer = null;
      announcer.textContent = unannounced === 1 ? "1 new post" : `${unannounced} new posts`;
      unannounced = 0;
    }, 10000);
  }

  // ---- rendering ----
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  // an open question's answer form (the server renders the same one for the first paint and without JS)
  function answerBox(id) {
    const details = el("details", "answer");
    details.append(el("summary", null, "Answer"));
    const form = el("form", "answer-form");
    form.method = "post";
    form.action = `/e/${slug}/posts`;
    const hidden = el("input");
    Object.assign(hidden, { type: "hidden", name: "reply_to", value: String(id) });
    const label = el("label", null, "Your answer");
    label.htmlFor = `answer-${id}`;
    const box = el("textarea");
    Object.assign(box, { id: `answer-${id}`, name: "text", rows: 2, maxLength: 1000, required: true });
    const button = el("button", null, "Post the answer");
    button.type = "submit";
    const problem = el("p", "form-error");
    problem.setAttribute("role", "alert");
    form.append(hidden, label, box, button, problem);
    details.append(form);
    return details;
  }

  function renderPost(p, anchor, answerable = false) {
    const li = el("li", `post kind-${p.kind}${p.pinned ? " pinned" : ""}`);
    if (anchor) li.id = `post-${p.id}`;
    li.dataset.postId = p.id;
    li.dataset.version = p.version;
    li.dataset.talkId = p.talk_id ?? "";
    li.dataset.kind = p.kind;
    li.dataset.replyTo = p.reply_to_id ?? "";
    li.dataset.lang = p.language ?? "";
    if (p.marked_answered) li.dataset.markedAnswered = "1";
    const meta = el("p", "meta");
    meta.append(el("span", "author", p.author.name || p.author.handle || "Anonymous"), " ");
    meta.append(el("span", "source", `via ${p.source}`), " ");
    const time = el("time", null, timeFmt.format(new Date(p.created_at)));
    time.dateTime = p.created_at;
    meta.append(time);
    if (p.pinned) meta.append(" ", el("span", "badge pin", "pinned"));
    if (p.kind !== "other") meta.append(" ", el("span", "badge", p.kind));
    li.append(meta);
    if (anchor && p.reply_to_id != null) li.append(...inReply(p.reply_to_id));
    if (p.spoiler_text) {
      const details = el("details");
      details.append(el("summary", null, p.spoiler_text), el("p", "text", p.text));
      li.append(details);
    } else {
      li.append(el("p", "text", p.text));
    }
    if (!readonly) {
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
      if (answerable && p.kind === "question") li.append(answerBox(p.id));
    }
    decorate(li);
    return li;
  }

  // in the feed an answer says what it answers, as the server draws it: the question as the page shows it
  function inReply(questionId) {
    const question = document.querySelector(`.post[data-post-id="${questionId}"]`);
    const said = question?.querySelector(":scope > .text, :scope > details > .text");
    if (!said) return [];
    const line = el("p", "in-reply", `In reply to ${question.querySelector(".meta .author")?.textContent || "Anonymous"}: `);
    line.dataset.questionId = questionId;
    const quote = el("q", null, said.textContent);
    quote.dir = "auto";
    line.append(quote);
    return [line];
  }

  function decorate(li) {
    const id = li.dataset.postId;
    const button = li.querySelector(".upvote");
    if (button) button.setAttribute("aria-pressed", voted.has(id) ? "true" : "false");
    if (li.dataset.replyTo && asksMine(li.dataset.replyTo)) li.classList.add("answer-to-mine");
    if (mine[id] && !readonly) {
      li.classList.add("mine");
      if (!li.querySelector(":scope > form.delete, :scope > .meta > .delete")) {
        const del = el("button", "delete", "Delete my post");
        del.type = "button";
        del.dataset.action = "delete";
        li.querySelector(".meta")?.append(" ", del);
      }
    }
  }

  const allCopies = (id) => document.querySelectorAll(`.post[data-post-id="${CSS.escape(String(id))}"]`);
  const capOf = (list, fallback) => Number(list.dataset.cap || fallback);

  // An answer being written survives its question being drawn again (a vote, its talk attributed, a digest, a
  // resync of the list): the form itself moves into the new drawing, open, with its text; the returned function,
  // called once the new drawing is in the page, puts the cursor back where it was.
  function carryAnswers(from, to) {
    const active = document.activeElement;
    let cursor = null;
    for (const writing of from.querySelectorAll(".post > details.answer")) {
      if (!writing.open && !writing.querySelector("textarea")?.value) continue;
      const post = `.post[data-post-id="${CSS.escape(writing.parentElement.dataset.postId)}"]`;
      const slot = (to.matches(post) ? to : to.querySelector(post))?.querySelector(":scope > details.answer");
      if (!slot) continue;
      if (writing.contains(active)) cursor = [active, active.selectionStart, active.selectionEnd];
      slot.replaceWith(writing);
    }
    return () => {
      if (!cursor) return;
      const [field, start, end] = cursor;
      field.focus({ preventScroll: true });
      if (start != null) field.setSelectionRange(start, end);
    };
  }

  function upsertInto(list, p, { prepend = true, cap = FEED_CAP, anchor = false, answerable = false } = {}) {
    if (!list) return;
    const existing = list.querySelector(`:scope > .post[data-post-id="${p.id}"]`);
    const fresh = renderPost(p, anchor, answerable);
    if (existing) {
      if (Number(existing.dataset.version) >= p.version) return;
      const restore = carryAnswers(existing, fresh);
      // my copies folded under it stay said (the server names some this browser holds no token for)
      const myCopies = existing.querySelectorAll(":scope > .asked-mine");
      if (myCopies.length) fresh.querySelector(":scope > .text, :scope > details")?.after(...myCopies);
      existing.replaceWith(fresh);
      restore();
      return;
    }
    if (!calm) fresh.classList.add("fresh");
    if (prepend) list.prepend(fresh); else list.append(fresh);
    while (list.children.length > capOf(list, cap)) list.lastElementChild.remove();
  }

  function admitted(p) {
    if (talkOnly && String(p.talk_id ?? "") !== talkOnly) return false;
    if (mine[String(p.id)]) return true; // your own posts always show
    if (filterKind && p.kind !== filterKind) return false;
    if (filterLang && !(p.language || "").toLowerCase().startsWith(filterLang)) return false;
    if (filterTalks && !filterTalks.has(String(p.talk_id ?? ""))) return false;
    return true;
  }

  let newestPost = 0;
  function applyPost(p) {
    if (p.status && p.status !== "visible") { removePost(p.id); return; }
    if (!admitted(p)) { removePost(p.id, false); return; } // filtered out here, still there
    for (const copy of allCopies(p.id)) {
      if (Number(copy.dataset.version) >= p.version) return; // already newer or same: nothing to do
    }
    const isNew = allCopies(p.id).length === 0;
    newestPost = Math.max(newestPost, p.id);
    upsertInto(document.getElementById("feed-list"), p, { anchor: !readonly });
    // the talk card it belongs to (and only that one)
    for (const copy of document.querySelectorAll(`.talk-posts > .post[data-post-id="${p.id}"]`)) {
      if (copy.closest(".card")?.dataset.talkId !== String(p.talk_id ?? "")) copy.remove();
    }
    if (p.talk_id != null && p.kind !== "answer") {
      upsertInto(document.querySelector(`.card[data-talk-id="${p.talk_id}"] .talk-posts`), p, { cap: PER_TALK });
    }
    if (p.kind === "question" && p.marked_answered) markedIds.add(Number(p.id)); else markedIds.delete(Number(p.id));
    for (const quote of document.querySelectorAll(`.in-reply[data-question-id="${p.id}"] > q`)) quote.textContent = p.text; // edited
    const questions = document.getElementById("questions");
    if (questions && p.kind === "question") {
      const speaker = listedSpeaker(questions, p.id);
      if (speaker) {
        heldCopies.set(p.id, renderPost(p, false, true)); // asked again: its speaker's entry stands for it
        showAsked(speaker);
        showAnswered(speaker); // marked answered on stage: the entry that stands for it is answered
      } else {
        upsertInto(questions, p, { cap: 30, answerable: true });
        showAsked(questionEntry(questions, p.id));
        showAnswered(questionEntry(questions, p.id));
      }
      document.getElementById("questions-empty")?.remove();
    } else if (questions && p.kind === "answer" && p.reply_to_id != null) {
      // under its question, or under the entry that stands for it when that question was asked again
      const question = questionEntry(questions, p.reply_to_id) || listedSpeaker(questions, p.reply_to_id);
      if (question) {
        const existing = questions.querySelector(`:scope > .post[data-post-id="${p.id}"]`);
        const fresh = renderPost(p, false);
        if (existing) { existing.replaceWith(fresh); foldEchoes(); } else settleAnswers(question, [fresh]);
      }
    } else if (questions) {
      questions.querySelector(`:scope > .post[data-post-id="${p.id}"]`)?.remove(); // no longer a question
      heldCopies.delete(Number(p.id));
    }
    if (isNew) announce();
    if (isNew) tellReply(p);
  }

  // ---- a reply to one of my questions arrived: say so wherever I am on the page (a phone shows a screenful) ----
  const replyNotice = document.getElementById("reply-notice");
  let replyId = null;
  let repliesUnseen = 0;
  let sending = 0;          // posts of this browser on their way: its live frame can come before the answer that
  const heldReplies = [];   // makes it mine, so replies wait for the answers
  function tellReply(p) {
    if (!replyNotice || p.reply_to_id == null) return;
    if (sending > 0) { heldReplies.push(p); return; }
    if (mine[String(p.id)] || !asksMine(String(p.reply_to_id))) return;
    repliesUnseen = replyNotice.hidden ? 1 : repliesUnseen + 1;
    replyId = p.id;
    const who = p.author.name || p.author.handle || "Someone";
    const said = p.text.length > 140 ? `${p.text.slice(0, 139)}…` : p.text;
    const more = repliesUnseen > 1 ? ` (${repliesUnseen} replies so far)` : "";
    const message = `${who} replied to your question: “${said}”${more}`;
    document.getElementById("reply-text").textContent = message;
    replyNotice.hidden = false;
    if (announcer) announcer.textContent = message;
  }
  document.getElementById("reply-done")?.addEventListener("click", () => { replyNotice.hidden = true; });
  document.getElementById("reply-show")?.addEventListener("click", () => {
    replyNotice.hidden = true;
    const target = document.querySelector(`#questions > .post[data-post-id="${replyId}"]`) || document.getElementById(`post-${replyId}`);
    if (!target) return;
    target.tabIndex = -1;
    target.scrollIntoView({ block: "center" });
    target.focus({ preventScroll: true });
  });

  // a question's answers follow it oldest first, as the server lists them (``extra``: answers joining them)
  function settleAnswers(question, extra) {
    const block = [...extra];
    for (let next = question.nextElementSibling; next?.dataset.kind === "answer"; next = next.nextElementSibling) block.push(next);
    block.sort((a, b) => Number(a.dataset.postId) - Number(b.dataset.postId));
    question.after(...block);
    showAnswered(question);
    foldEchoes();
  }
  // a question with an answer under it, or one an organizer marked answered (on stage), says so (the server's
  // list has the same badge); taking the mark back takes the badge away
  function showAnswered(li) {
    if (!li) return;
    const answered = li.nextElementSibling?.dataset.kind === "answer" || markedInGroup(li);
    const badge = li.querySelector(":scope > .meta > .badge.answered");
    if (answered && !badge) li.querySelector(".meta")?.append(" ", el("span", "badge answered", "answered"));
    else if (!answered && badge) badge.remove();
  }
  function markedInGroup(li) {
    const id = Number(li.dataset.postId);
    if (li.dataset.markedAnswered === "1" || markedIds.has(id)) return true;
    const speaker = copyOf.get(id);
    if (speaker == null) return false;
    for (const [other, of] of copyOf) if (of === speaker && markedIds.has(other)) return true;
    return false;
  }

  // ``leaving``: deleted, hidden or erased (not merely outside this page's filters)
  function removePost(id, leaving = true) {
    const own = Number(id);
    // a copy of a question asked again leaves its group: the entry counts one ask and its votes fewer at once
    // (the clustering stage's next count says the same)
    const speaker = leaving ? copyOf.get(own) : null;
    const info = speaker != null ? asked.get(speaker) : null;
    if (info) {
      const shown = heldCopies.get(own) || allCopies(own)[0];
      const votes = Number(shown?.querySelector(".upvote .count")?.textContent
        || document.querySelector(`.asked-mine[data-post-id="${own}"]`)?.dataset.upvotes || 0);
      asked.set(speaker, { count: Math.max(1, info.count - 1), votes: Math.max(0, info.votes - votes) });
    }
    for (const copy of allCopies(id)) copy.remove();
    for (const line of document.querySelectorAll(`.asked-mine[data-post-id="${own}"]`)) line.remove();
    // a question deleted, hidden or erased is quoted nowhere: its answers (in the feed, among takeaways) stop
    // saying it at once, not only when the talk's takeaways are drawn again
    if (leaving) for (const line of document.querySelectorAll(`.in-reply[data-question-id="${own}"]`)) line.remove();
    heldCopies.delete(own);
    if (leaving) { markedIds.delete(own); gone.add(own); }
    if (speaker != null) copyOf.delete(own); // counted out once: a second word of its removal changes nothing
    if (asked.has(own) || copyOf.has(own) || speaker != null) regroupQuestions(); // its copies may stand alone now
    else { const list = document.getElementById("questions"); if (list) for (const li of list.querySelectorAll(':scope > .post[data-kind="question"]')) showAnswered(li); }
    foldEchoes(); // the answer said once more, or the one that showed it gone: the next one shows
  }

  // ---- questions asked again: the clustering stage names the copies (digest.questions); one entry each ----
  const copyOf = new Map();      // question id -> id of the copy that speaks for it (itself included)
  const asked = new Map();       // speaking copy's id -> { count, votes }
  const repeatsOf = new Map();   // talk key -> question ids its digest named, so a newer digest replaces them
  const heldCopies = new Map();  // id -> entry of a copy kept out of the list while its speaker is listed
  const markedIds = new Set();   // questions an organizer marked answered (on stage)
  const gone = new Set();        // posts removed here (deleted, hidden): a digest naming them is older news
  const questionEntry = (list, id) => list.querySelector(`:scope > .post[data-kind="question"][data-post-id="${id}"]`);
  // my question, or a copy of one of mine (an answer to the copy listed for it answers mine too)
  function asksMine(questionId) {
    if (mine[questionId]) return true;
    const speaker = copyOf.get(Number(questionId));
    if (speaker == null) return false;
    for (const [id, of] of copyOf) if (of === speaker && mine[String(id)]) return true;
    return false;
  }
  // the entry listed for question ``id`` when that is another copy's: the copy that says it best, or, when
  // that one is not listed (older than the page's posts), the first listed copy, as the server lists it
  function listedSpeaker(list, id) {
    const own = Number(id);
    const speaker = copyOf.get(own);
    if (speaker == null) return null;
    const best = speaker !== own ? questionEntry(list, speaker) : null;
    if (best || speaker === own) return best;
    let first = null;
    for (const li of list.querySelectorAll(':scope > .post[data-kind="question"]')) {
      const other = Number(li.dataset.postId);
      if (other < own && copyOf.get(other) === speaker && (!first || other < Number(first.dataset.postId))) first = li;
    }
    return first;
  }
  function showAsked(li) {
    if (!li) return;
    const id = Number(li.dataset.postId);
    const info = asked.get(copyOf.get(id) ?? id);
    let line = li.querySelector(":scope > .asked");
    showMyCopies(li, info);
    if (!info || info.count <= 1) { line?.remove(); return; }
    if (!line) { line = el("p", "asked"); li.querySelector(":scope > .text, :scope > details")?.after(line); }
    const votes = info.votes ? ` · ${info.votes} ${info.votes === 1 ? "vote" : "votes"} in all` : "";
    line.textContent = `Asked ${info.count}×${votes}`;
  }
  // my own copies of the question this entry stands for: "You asked this too", with what I wrote and a way
  // to delete it (the feed keeps my post as it is; here it would be gone from sight under another's words)
  function showMyCopies(li, info) {
    const id = Number(li.dataset.postId);
    const speaker = copyOf.get(id) ?? id;
    const list = li.parentElement;
    const belongs = (other) => other !== id && info && copyOf.get(other) === speaker && !gone.has(other)
      && !(list && questionEntry(list, other));
    const lines = new Map();
    for (const line of li.querySelectorAll(":scope > .asked-mine")) {
      const other = Number(line.dataset.postId);
      if (belongs(other) && !lines.has(other)) lines.set(other, line); else line.remove();
    }
    if (readonly || !info) return;
    let after = [...lines.values()].at(-1) || li.querySelector(":scope > .asked")
      || li.querySelector(":scope > .text, :scope > details");
    for (const [other, of] of copyOf) {
      if (of !== speaker || lines.has(other) || !mine[String(other)] || !belongs(other)) continue;
      const copy = heldCopies.get(other) || allCopies(other)[0];
      const line = el("div", "asked-mine");
      line.dataset.postId = String(other);
      line.dataset.upvotes = copy?.querySelector(".upvote .count")?.textContent || "0";
      const said = el("p", null, "You asked this too");
      const text = copy?.querySelector(".text")?.textContent;
      if (text) said.append(": ", el("q", "mine-text", text));
      const del = el("button", "delete", "Delete my question");
      del.type = "button";
      del.dataset.action = "delete";
      line.append(said, del);
      if (after) after.after(line); else li.append(line);
      after = line;
      lines.set(other, line);
    }
  }
  const talkKey = (talkId) => (talkId == null || talkId === "" ? "hallway" : String(talkId));
  function repeatsChanged(d) {
    const key = talkKey(d.talk_id);
    const before = repeatsOf.get(key) || [];
    for (const id of before) { copyOf.delete(id); asked.delete(id); }
    const named = [];
    for (const q of d.questions || []) {
      const [speaker] = q.post_ids;
      asked.set(speaker, { count: q.count, votes: q.votes });
      for (const id of q.post_ids) { copyOf.set(id, speaker); named.push(id); }
    }
    repeatsOf.set(key, named);
    const list = document.getElementById("questions");
    // a copy folded in by the server, never held here, that stands alone now: the server lists it
    if (list && before.some((id) => !copyOf.has(id) && !heldCopies.has(id) && !gone.has(id) && !questionEntry(list, id))) scheduleRefresh();
    regroupQuestions();
  }
  // the server renders each list already folded: learn its copies from the entries' "asked" lines
  let seededList = null;
  function seedRepeats() {
    const list = document.getElementById("questions");
    if (!list || list === seededList) return; // a swap of other parts: this list and its held copies stand
    seededList = list;
    heldCopies.clear();
    markedIds.clear();
    for (const li of document.querySelectorAll(".post[data-marked-answered]")) markedIds.add(Number(li.dataset.postId));
    for (const line of list.querySelectorAll(":scope > .post > .asked[data-marked]")) {
      for (const id of line.dataset.marked.split(" ").filter(Boolean)) markedIds.add(Number(id));
    }
    for (const line of list.querySelectorAll(":scope > .post > .asked[data-copies]")) {
      const entry = line.closest(".post");
      const speaker = Number(line.dataset.speaker || entry.dataset.postId);
      const ids = [speaker, Number(entry.dataset.postId), ...line.dataset.copies.split(" ").filter(Boolean).map(Number)];
      asked.set(speaker, { count: Number(line.dataset.count), votes: Number(line.dataset.votes) });
      const named = repeatsOf.get(talkKey(entry.dataset.talkId)) || [];
      for (const id of ids) { copyOf.set(id, speaker); named.push(id); }
      repeatsOf.set(talkKey(entry.dataset.talkId), named);
    }
  }
  function regroupQuestions() {
    const list = document.getElementById("questions");
    if (!list) return;
    for (const [id, li] of [...heldCopies]) { // a copy no longer folded, or whose speaker left: listed again
      if (listedSpeaker(list, id)) continue;
      heldCopies.delete(id);
      if (!questionEntry(list, id)) { list.prepend(li); showAsked(li); }
    }
    for (const li of list.querySelectorAll(':scope > .post[data-kind="question"]')) {
      const id = Number(li.dataset.postId);
      const speaker = listedSpeaker(list, id);
      if (speaker && speaker !== li) {
        const answers = list.querySelectorAll(`:scope > .post[data-kind="answer"][data-reply-to="${id}"]`);
        settleAnswers(speaker, [...answers]);
        li.remove();
        heldCopies.set(id, li);
      }
    }
    for (const li of list.querySelectorAll(':scope > .post[data-kind="question"]')) { showAsked(li); showAnswered(li); }
    for (const li of list.querySelectorAll(':scope > .post[data-kind="answer"]')) decorate(li);
    foldEchoes();
  }
  // An answer the room gave several times (the same words, case and a closing stop aside) reads once under its
  // question, saying who else gave it: a question asked 34 times drew 34 answers, most of them one sentence.
  // The others stay in the page, hidden (a vote, an edit or a removal finds them); mine always show, deletable.
  function saying(li) {
    return (li.querySelector(":scope > .text")?.textContent || "").toLowerCase().split(/\s+/).filter(Boolean).join(" ").replace(/[.!]+$/, "");
  }
  function foldEchoes() {
    const list = document.getElementById("questions");
    if (!list) return;
    const groups = [];
    let block = new Map(); // the answers under one question, by what they say
    for (const li of list.children) {
      if (li.dataset.kind !== "answer") { block = new Map(); continue; }
      li.querySelector(":scope > .echoes")?.remove();
      const key = li.classList.contains("mine") ? "" : saying(li);
      const group = key ? block.get(key) : undefined;
      li.hidden = Boolean(group);
      if (group) group.push(li);
      else if (key) { const first = [li]; block.set(key, first); groups.push(first); }
    }
    for (const [first, ...echoes] of groups) {
      if (!echoes.length) continue;
      const names = [...new Set(echoes.map((li) => li.querySelector(".author")?.textContent || "Anonymous"))];
      const more = names.length > 3 ? ` and ${names.length - 3} more` : "";
      const line = el("p", "echoes", `Also said by ${names.slice(0, 3).join(", ")}${more}: ${echoes.length + 1} times in all.`);
      first.querySelector(":scope > .text, :scope > details")?.after(line);
    }
  }
  seedRepeats();
  foldEchoes();
  document.addEventListener("backchannel:parts", () => { seedRepeats(); foldEchoes(); });

  function applyVote(d) {
    for (const copy of allCopies(d.id)) {
      const count = copy.querySelector(".count");
      if (count) count.textContent = String(d.upvotes);
      copy.querySelector(".upvote")?.setAttribute("aria-label", `Upvote (${d.upvotes} so far)`);
      copy.dataset.version = String(Math.max(Number(copy.dataset.version), d.version || 0));
    }
  }

  function applyTalk(t) {
    const card = document.querySelector(`.card[data-talk-id="${t.id}"]`);
    if (!card) { scheduleRefresh(); return; }
    const title = card.querySelector(".title a") || card.querySelector(".title");
    if (title) title.textContent = t.title;
    const room = card.querySelector(".room");
    if (room) room.textContent = t.room || "";
    if (card.dataset.start !== undefined && (card.dataset.start !== t.start || card.dataset.end !== t.end)) scheduleRefresh();
  }

  // Where the keyboard is, said so that a new drawing of its part can be searched for it: the part, the post or
  // takeaway it is in, and the control (an upvote, a disclosure, a link). A part drawn again under a keyboard or
  // screen-reader user would otherwise drop them at the page's top.
  function spotOf(control, part) {
    const href = control.getAttribute("href");
    return {
      part,
      post: control.closest("[data-post-id]")?.dataset.postId,
      item: control.closest("[data-post-ids]")?.dataset.postIds,
      control: control.tagName.toLowerCase() + [...control.classList].map((c) => `.${CSS.escape(c)}`).join("")
        + (href ? `[href="${CSS.escape(href)}"]` : ""),
    };
  }
  function findSpot(spot) {
    const part = document.getElementById(spot.part);
    const scope = spot.post ? part?.querySelector(`[data-post-id="${CSS.escape(spot.post)}"]`)
      : spot.item ? part?.querySelector(`[data-post-ids="${CSS.escape(spot.item)}"]`) : part;
    return scope?.matches(spot.control) ? scope : scope?.querySelector(spot.control);
  }

  // ---- swapping server-rendered parts: each element with data-part replaces its namesake by id ----
  function swapParts(doc) {
    const active = document.activeElement;
    let spot = null;
    for (const fresh of doc.querySelectorAll("[data-part][id]")) {
      const current = document.getElementById(fresh.id);
      if (!current) continue;
      if (fresh.dataset.version && current.dataset.version && Number(fresh.dataset.version) < Number(current.dataset.version)) continue;
      if (active && active !== document.body && current.contains(active)) spot = spotOf(active, fresh.id);
      const openSources = new Set([...current.querySelectorAll("details[open] [data-post-ids], details[open]")].map((d) => d.closest("[data-post-ids]")?.dataset.postIds));
      const node = document.importNode(fresh, true);
      const restore = carryAnswers(current, node);
      // keep the disclosures a reader opened
      for (const item of node.querySelectorAll("[data-post-ids]")) {
        if (openSources.has(item.dataset.postIds)) item.querySelector("details")?.setAttribute("open", "");
      }
      current.replaceWith(node);
      restore();
    }
    document.querySelectorAll(".post").forEach(decorate);
    if (spot && !active.isConnected) findSpot(spot)?.focus({ preventScroll: true }); // an answer's form moved along
    document.dispatchEvent(new CustomEvent("backchannel:parts", { detail: { doc } }));
  }

  async function fetchParts(url) {
    const response = await fetch(url, { headers: { Accept: "text/html" }, cache: "no-store" });
    if (!response.ok) return null;
    // DOMParser documents never run scripts; user text arrives escaped by the server's templates.
    return new DOMParser().parseFromString(await response.text(), "text/html");
  }

  // a digest changed: fetch that talk's takeaways and timeline (at most every 2 s per talk)
  const digestTimers = new Map();
  function digestChanged(d) {
    const key = d.talk_id == null ? "hallway" : String(d.talk_id);
    const current = document.getElementById(`digest-${key}`);
    // the hallway's topics are part of the whole page (side column, or the main one and the wall without talks)
    if (key === "hallway" || !current) { if (document.getElementById("trending") || current) scheduleRefresh(10000); return; }
    if (Number(current.dataset.version || 0) >= Number(d.version || 0)) return;
    if (digestTimers.has(key)) return;
    digestTimers.set(key, setTimeout(async () => {
      digestTimers.delete(key);
      const limit = current.dataset.limit || 3;
      const sources = current.dataset.sources || 1;
      const doc = await fetchParts(`/e/${encodeURIComponent(slug)}/parts/talks/${key}?limit=${limit}&sources=${sources}&level=${current.dataset.level || 4}`).catch(() => null);
      if (doc) swapParts(doc);
    }, 2000));
    if (document.getElementById("trending")) scheduleRefresh(10000);
  }

  // ---- frames, applied in batches once per animation frame ----
  let pending = [];
  let scheduled = false;
  let calm = false;
  function enqueue(frame) {
    pending.push(frame);
    if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
  }
  const stats = { frames: 0, batches: 0, flushMs: 0, maxFlushMs: 0 };  // window.backchannel.stats
  function flush() {
    scheduled = false;
    const started = performance.now();
    const frames = pending;
    pending = [];
    // under load only the newest version of each post matters: skip the ones a later frame replaces
    const full = (f) => f.type === "post.created" || f.type === "post.updated" || f.type === "post.attributed" || f.type === "post.filed";
    const latest = new Map();
    frames.forEach((f, i) => { if (full(f) && f.data?.id != null) latest.set(f.data.id, i); });
    frames.forEach((f, i) => { if (full(f) && latest.get(f.data?.id) !== i) f.skip = true; });
    calm = frames.length > 8; // a flood: skip the per-item highlight animation
    for (const f of frames) {
      if (f.skip) continue;
      switch (f.type) {
        case "post.created": case "post.updated": case "post.attributed": case "post.filed": applyPost(f.data); break;
        case "post.deleted": case "post.hidden": removePost(f.data.id); break;
        case "post.redacted": (f.data.ids || []).forEach((id) => removePost(id)); break; // erased by an organizer
        case "post.upvoted": applyVote(f.data); break;
        case "talk.updated": applyTalk(f.data); break;
        case "digest.updated": repeatsChanged(f.data); digestChanged(f.data); break;
        default: document.dispatchEvent(new CustomEvent("backchannel:frame", { detail: f }));
      }
    }
    const spent = performance.now() - started;
    stats.frames += frames.length;
    stats.batches += 1;
    stats.flushMs += spent;
    stats.maxFlushMs = Math.max(stats.maxFlushMs, spent);
  }

  // ---- resync: reload the live parts of the page from the server ----
  let refreshTimer = null;
  let refreshDue = 0;
  function scheduleRefresh(delay = 300) {
    // a sooner need wins over a pending leisurely one (a digest's 10 s refresh of the trending topics)
    if (refreshTimer && refreshDue <= performance.now() + delay) return;
    clearTimeout(refreshTimer);
    refreshDue = performance.now() + delay;
    refreshTimer = setTimeout(refresh, delay);
  }
  async function refresh() {
    clearTimeout(refreshTimer);
    refreshTimer = null;
    const doc = await fetchParts(location.pathname + location.search).catch(() => null);
    if (!doc) return;
    swapParts(doc);
    lastId = Math.max(lastId, Number(doc.body.dataset.lastId || 0));
  }

  // ---- the socket, resuming with after= ----
  let socket = null;
  let attempt = 0;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const talk = talkOnly ? `&talk=${encodeURIComponent(talkOnly)}` : "";
    socket = new WebSocket(`${scheme}://${location.host}/ws/events/${encodeURIComponent(slug)}?after=${lastId}${talk}`);
    socket.onopen = () => { attempt = 0; setConn("live", "Live"); };
    socket.onmessage = (message) => {
      let payload;
      try { payload = JSON.parse(message.data); } catch { return; }
      for (const frame of Array.isArray(payload) ? payload : [payload]) {
        if (!frame || frame.type === "heartbeat") continue;
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
  window.backchannel = {
    dropConnection: () => socket?.close(4000, "test"),
    refresh,
    stats,
    get lastId() { return lastId; },
  };
  document.querySelectorAll(".post").forEach((li) => { decorate(li); newestPost = Math.max(newestPost, Number(li.dataset.postId)); });
  connect();

  // talks start and end while the page is open: reload the schedule parts when a boundary passes
  setInterval(() => {
    const now = Date.now();
    for (const card of document.querySelectorAll(".card[data-start]")) {
      const start = Date.parse(card.dataset.start);
      const end = Date.parse(card.dataset.end);
      const isNow = card.classList.contains("state-now");
      if ((isNow && end <= now) || (!isNow && start <= now && now < end)) { scheduleRefresh(); return; }
    }
  }, 30000);

  // ---- what did I miss: new takeaways per talk since the last visit (kept in this browser) ----
  const missed = document.getElementById("missed");
  const visitKey = `bc_visit:${slug}`;
  const lastVisit = store(visitKey, null);
  const remember = () => localStorage.setItem(visitKey, JSON.stringify({ at: new Date().toISOString(), post: newestPost }));
  if (missed) {
    if (!lastVisit) remember();
    addEventListener("pagehide", remember);
    document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") remember(); });
    document.getElementById("missed-done")?.addEventListener("click", () => { remember(); missed.hidden = true; });
    if (lastVisit && lastVisit.post) showMissed(lastVisit).catch(() => {});
  }
  async function showMissed(visit) {
    const response = await fetch(`/api/events/${encodeURIComponent(slug)}/digests`, { cache: "no-store" });
    if (!response.ok) return;
    const { items } = await response.json();
    const bodyEl = document.getElementById("missed-body");
    const lists = [];
    for (const digest of items) {
      const fresh = digest.takeaways.filter((t) => t.post_ids.some((id) => id > visit.post));
      if (!fresh.length) continue;
      const card = digest.talk_id == null ? null : document.getElementById(`talk-${digest.talk_id}`);
      const title = digest.talk_id == null ? "In the hallway" : card?.querySelector(".title")?.textContent || `Talk ${digest.talk_id}`;
      const block = el("div", "missed-talk");
      const h = el("h3");
      if (digest.talk_id != null) {
        const link = el("a", null, title.trim());
        link.href = `/e/${encodeURIComponent(slug)}/talks/${digest.talk_id}`;
        h.append(link);
      } else h.textContent = title;
      const ul = el("ul");
      for (const t of fresh.slice(0, 5)) ul.append(el("li", null, t.text));
      block.append(h, ul);
      lists.push(block);
    }
    if (!lists.length) return;
    const since = el("p", "notice", `New takeaways since ${timeFmt.format(new Date(visit.at))}:`);
    bodyEl.replaceChildren(since, ...lists);
    missed.hidden = false;
  }

  if (readonly) return;

  // ---- posting, voting and deleting without leaving the page ----
  const api = (path, options = {}) => fetch(`/api/events/${encodeURIComponent(slug)}${path}`, {
    ...options, headers: { "Content-Type": "application/json", "X-Client-Id": clientId, ...(options.headers || {}) },
  });
  const message = async (response) => {
    try {
      const data = await response.json();
      const detail = data.error?.message || data.detail || response.statusText;
      return typeof detail === "string" ? detail : response.statusText;
    } catch { return response.statusText; }
  };

  const form = document.getElementById("post-form");
  const text = document.getElementById("post-text");
  const counter = document.getElementById("post-counter");
  const error = document.getElementById("post-error");
  const roomSelect = document.getElementById("post-room");
  const talkSelect = document.getElementById("post-talk");
  // the talk is preselected from what is on now in the room you say you are in; in a break none is, since a
  // note then is as often about the talk just over as the next, and the clustering stage trusts a chosen talk
  function pickRoom(room) {
    if (!roomSelect || !talkSelect) return;
    const option = [...roomSelect.options].find((o) => o.value === room);
    if (!option) return;
    roomSelect.value = room;
    const talk = option.dataset.now || "";
    if ([...talkSelect.options].some((o) => o.value === talk)) talkSelect.value = talk;
  }
  // a talk the writer picks stays picked; one the page picked follows the schedule while the page is open
  let talkPickedByHand = false;
  roomSelect?.addEventListener("change", () => {
    localStorage.setItem(`bc_room:${slug}`, roomSelect.value);
    talkPickedByHand = false;
    pickRoom(roomSelect.value);
  });
  talkSelect?.addEventListener("change", () => { talkPickedByHand = true; });
  const savedRoom = localStorage.getItem(`bc_room:${slug}`);
  if (savedRoom) pickRoom(savedRoom);
  // A talk ends and the next begins while the page is open (the schedule parts are fetched again then): the
  // form learns what is now on in each room and the talks just begun, or notes would go to the talk that
  // was on when the page loaded.
  document.addEventListener("backchannel:parts", (event) => {
    const doc = event.detail?.doc;
    const freshTalks = doc?.getElementById("post-talk");
    if (!freshTalks || !talkSelect || document.activeElement === talkSelect) return;
    const freshRooms = doc.getElementById("post-room");
    for (const option of roomSelect ? roomSelect.options : []) {
      const fresh = [...(freshRooms?.options || [])].find((o) => o.value === option.value);
      option.dataset.now = fresh?.dataset.now || "";
    }
    const kept = talkSelect.selectedOptions[0];
    const guessed = freshTalks.value;
    talkSelect.replaceChildren(...[...freshTalks.options].map((o) => document.importNode(o, true)));
    if (talkPickedByHand && kept) {
      if (![...talkSelect.options].some((o) => o.value === kept.value)) talkSelect.append(kept);
      talkSelect.value = kept.value;
    } else if (roomSelect?.value) pickRoom(roomSelect.value);
    else talkSelect.value = guessed;
  });
  const savedName = localStorage.getItem("bc_name");
  const nameInput = document.getElementById("post-name");
  if (savedName && nameInput) nameInput.value = savedName;

  text?.addEventListener("input", () => {
    const n = text.value.length;
    counter.textContent = n > 800 ? `${n} / 1000 characters` : "";
  });
  // a message about what was sent goes once the writer changes it ("the note is empty" stayed while typing)
  document.addEventListener("input", (event) => {
    const box = event.target.closest?.("#post-form textarea, form.answer-form textarea");
    const problem = box?.form?.querySelector(".form-error, #post-error");
    if (problem && problem.textContent && !problem.textContent.startsWith("Thanks!")) problem.textContent = "";
  });
  async function refusal(response) {
    return response.status === 429 ? tooFast(response, "posting") : `Not posted: ${await message(response)}`;
  }
  function tooFast(response, doing) {
    const wait = response.headers.get("Retry-After");
    return `You are ${doing} too fast. Try again in ${wait ? `${wait} seconds` : "a moment"}.`;
  }

  // both posting forms: check the text, post it, make it this browser's own. "posted", "held" (waiting for
  // an organizer) or null (refused, or not sent), with the reason in ``problem``.
  async function sendNote(payload, box, problem, button, words) {
    problem.textContent = "";
    const note = box.value.trim();
    if (!note) { problem.textContent = words.empty; box.focus(); return null; }
    if (note.length > 1000) { problem.textContent = `That is ${note.length} characters; the limit is 1,000.`; box.focus(); return null; }
    button.disabled = true;
    sending += 1;
    try {
      const response = await api("/posts", { method: "POST", body: JSON.stringify({ ...payload, text: note }) });
      if (!response.ok) { problem.textContent = await refusal(response); return null; }
      const created = await response.json();
      mine[String(created.post.id)] = created.delete_token;
      save();
      box.value = "";
      if (created.post.status !== "visible") { problem.textContent = words.held; return "held"; }
      applyPost(created.post);
      // the live frame may have rendered it first, before this browser knew it was its own
      for (const copy of allCopies(created.post.id)) decorate(copy);
      return "posted";
    } catch {
      problem.textContent = words.unreachable;
      return null;
    } finally {
      sending -= 1;
      if (!sending) heldReplies.splice(0).forEach(tellReply);
      button.disabled = false;
      // the disabled button dropped the focus to the top of the page: back to where the writing is
      if (box.isConnected && box.offsetParent !== null && (!document.activeElement || document.activeElement === document.body)) box.focus();
    }
  }

  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const talk = String(data.get("talk_id") || "");
    const payload = { kind: data.get("kind") === "question" ? "question" : "note" };
    if (talk) payload.talk_id = Number(talk);
    const name = String(data.get("display_name") || "").trim();
    if (name) payload.display_name = name;
    localStorage.setItem("bc_name", name);
    const sent = await sendNote(payload, text, error, form.querySelector("button[type=submit]"), {
      empty: "Write something first: the note is empty.",
      held: "Thanks! Your post will appear once an organizer approves it.",
      unreachable: "Could not reach the server. Your note was not sent.",
    });
    if (sent === "posted") {
      counter.textContent = "";
      announcer && (announcer.textContent = "Posted.");
    }
  });

  // answering an open question: the notes API with reply_to; the answer then shows under its question
  document.addEventListener("submit", async (event) => {
    const answerForm = event.target.closest("form.answer-form");
    if (!answerForm) return;
    event.preventDefault();
    const payload = { reply_to: Number(answerForm.elements.reply_to.value) };
    const name = localStorage.getItem("bc_name");
    if (name) payload.display_name = name;
    const box = answerForm.querySelector("textarea");
    const sent = await sendNote(payload, box, answerForm.querySelector(".form-error"), answerForm.querySelector("button[type=submit]"), {
      empty: "Write your answer first.",
      held: "Thanks! Your answer will appear once an organizer approves it.",
      unreachable: "Could not reach the server. Your answer was not sent.",
    });
    if (sent === "posted") {
      const details = answerForm.closest("details");
      details?.removeAttribute("open");
      details?.querySelector("summary")?.focus(); // the closed form's box cannot hold the focus
      announcer && (announcer.textContent = "Answer posted.");
    }
  });

  // the server-rendered delete form works without JavaScript; with it, a token this browser holds goes via the API
  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.delete");
    if (!form) return;
    const id = form.closest("[data-post-id]").dataset.postId;
    if (!mine[id]) return;
    event.preventDefault();
    await deleteMine(id);
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
    } else {
      say(li, response.status === 429 ? tooFast(response, "voting") : `Not counted: ${await message(response)}`);
    }
  });

  // a refused vote or delete says why beside the post it was for, and the words go once read
  function say(li, words) {
    let line = li.querySelector(".post-problem");
    if (!line) {
      line = el("p", "post-problem form-error");
      line.setAttribute("role", "status");
      li.append(line);
    }
    line.textContent = words;
    clearTimeout(line.timer);
    line.timer = setTimeout(() => line.remove(), 10000);
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action=delete]");
    if (!button) return;
    await deleteMine(button.closest("[data-post-id]").dataset.postId);
  });

  async function deleteMine(id) {
    const response = await api(`/posts/${id}`, { method: "DELETE", headers: { "X-Delete-Token": mine[id] || "" } });
    if (response.ok || response.status === 404) {
      delete mine[id];
      save();
      // the focus was on the deleted post's button: it goes to the post that takes its place
      const focused = document.activeElement?.closest(".post");
      const next = focused && focused.dataset.postId === String(id) ? focused.nextElementSibling || focused.previousElementSibling : null;
      // deleted from the line under another copy's entry: the focus stays on that entry
      const entry = document.activeElement?.closest(".asked-mine") ? focused : null;
      removePost(id);
      if (next?.isConnected) (next.querySelector("button, summary, a") || next).focus();
      else if (entry?.isConnected) (entry.querySelector(".upvote") || entry).focus();
      announcer && (announcer.textContent = "Post deleted.");
    } else {
      const words = response.status === 429 ? tooFast(response, "deleting") : `Not deleted: ${await message(response)}`;
      for (const copy of allCopies(id)) say(copy, words);
      for (const line of document.querySelectorAll(`.asked-mine[data-post-id="${CSS.escape(String(id))}"]`)) say(line, words);
    }
  }
})();

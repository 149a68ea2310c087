// Backchannel wall: rotates through the talks on now, one at a time, and keeps the line-up current.
// Reduced motion is honoured by the stylesheet (no animation); the rotation itself is a plain swap.
(() => {
  "use strict";
  const body = document.body;
  const ROTATE_MS = 15000;
  let index = 0;
  let timer = null;
  let lineup = "";

  function panels() { return [...document.querySelectorAll(".wall-panel")]; }

  function show(i) {
    const all = panels();
    if (all.length < 2) { all.forEach((p) => { p.hidden = false; }); return; }
    index = ((i % all.length) + all.length) % all.length;
    all.forEach((p, n) => { p.hidden = n !== index; });
  }

  function start() {
    const ids = panels().map((p) => p.dataset.talkId).join(" ");
    if (ids === lineup && timer) { show(index); return; } // same talks: keep the rhythm, re-apply visibility
    lineup = ids;
    clearInterval(timer);
    timer = null;
    const rotating = body.classList.contains("layout-single") && panels().length > 1;
    body.classList.toggle("rotating", rotating);
    if (!rotating) { panels().forEach((p) => { p.hidden = false; }); return; }
    show(index);
    timer = setInterval(() => show(index + 1), ROTATE_MS);
  }

  // the live script swapped the panels (a talk started or ended): rotate through the new line-up
  document.addEventListener("backchannel:parts", start);
  // the line-up changes as talks start and end; a projector page stays open all day
  setInterval(() => window.backchannel?.refresh(), 60000);
  start();
})();

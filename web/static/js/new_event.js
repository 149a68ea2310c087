// Creating an event: the address follows the name until the organizer edits it; once created, the console
// link carries the organizer token into the console (this tab's sessionStorage, as the console keeps it).
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);

  const name = $("name");
  const slug = $("slug");
  if (name && slug) {
    const preview = $("slug-preview");
    let edited = slug.value !== "";
    const slugOf = (text) => text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64).replace(/-+$/, "");
    const show = () => { preview.textContent = slug.value || "…"; };
    name.addEventListener("input", () => {
      if (!edited) { slug.value = slugOf(name.value); show(); }
    });
    slug.addEventListener("input", () => { edited = slug.value !== ""; show(); });
    // A name typed (or restored by the browser) before this script ran gets its address too.
    if (!edited && name.value) { slug.value = slugOf(name.value); show(); }
    // A new form starts in this browser's time zone, most often the venue's; the organizer can change it.
    const zone = $("time_zone");
    const here = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if ($("new-event-form").hasAttribute("data-fresh") && zone.value === "UTC" && here) zone.value = here;
    // The form came back refused: put the cursor in the first field to fix (its message is read with it),
    // not at the top of a page the organizer has to search.
    const first = document.querySelector("#new-event-form [aria-invalid=true]");
    if (first) first.focus();
  }

  const created = document.body.dataset.created;
  const link = $("open-console");
  if (created && link) {
    const token = $("organizer-token");
    link.addEventListener("click", () => {
      try { sessionStorage.setItem(`bc_token:${created}`, token.value); } catch { /* private mode: paste it */ }
    });
  }
})();

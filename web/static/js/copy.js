// "Copy" beside a token shown once (a new event's, a replaced one): on a phone, selecting 32 characters in a
// field to copy them is fiddly. A button names its field in data-copy and its status line in data-copy-status.
(() => {
  "use strict";
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    const said = document.getElementById(button.dataset.copyStatus);
    if (!field) continue;
    button.hidden = false;
    field.addEventListener("focus", () => field.select());
    button.addEventListener("click", async () => {
      let copied = false;
      try {
        await navigator.clipboard.writeText(field.value);
        copied = true;
      } catch {  // no clipboard API outside https or localhost: the old way, from the selected field
        field.focus();
        field.select();
        try { copied = document.execCommand("copy"); } catch { copied = false; }
      }
      if (said) said.textContent = copied ? "Copied: paste it somewhere safe." : "Select the token and copy it yourself.";
    });
  }
})();

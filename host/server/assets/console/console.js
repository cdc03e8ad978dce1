// Prism console: small conveniences on top of pages that work without
// script. Loaded from this file only (the Content-Security-Policy allows no
// inline script).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Ask before deleting.
  for (const form of document.querySelectorAll("form.confirm")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm || "Are you sure?")) {
        event.preventDefault();
      }
    });
  }
  // Select every record on the page.
  const all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", () => {
      for (const box of document.querySelectorAll("input.select")) {
        box.checked = all.checked;
      }
    });
  }
  // Colour the picture as soon as a key is chosen.
  for (const select of document.querySelectorAll("select.autosubmit")) {
    select.addEventListener("change", () => select.form.submit());
  }
});

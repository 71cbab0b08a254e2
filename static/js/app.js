// Polling is the fallback while the websocket is down: a status partial marked
// data-poll-fallback polls every 2 s, and its request is dropped while the socket is open.
// (Not an hx-trigger filter: those are compiled with eval, which the CSP forbids.)
window.dailiesSocketOpen = false;
document.addEventListener("htmx:beforeRequest", (event) => {
  const elt = event.detail.elt;
  if (window.dailiesSocketOpen && elt.matches("[data-poll-fallback]")) event.preventDefault();
});
document.addEventListener("htmx:wsOpen", () => { window.dailiesSocketOpen = true; });
document.addEventListener("htmx:wsClose", () => { window.dailiesSocketOpen = false; });
document.addEventListener("htmx:wsError", () => { window.dailiesSocketOpen = false; });

// A select that submits its form when it changes (team switcher, member roles).
document.addEventListener("change", (event) => {
  const select = event.target.closest?.("select[data-submit-on-change]");
  if (select && select.form) select.form.requestSubmit();
});

// A field the creator edits after an error drops that error: it no longer describes it.
function clearFieldError(event) {
  const row = event.target.closest?.(".has-error");
  if (!row) return;
  row.classList.remove("has-error");
  row.querySelectorAll(".errorlist").forEach((list) => list.remove());
  const after = row.nextElementSibling;
  if (after && after.matches(".errorlist")) after.remove();
  event.target.removeAttribute("aria-invalid");
}
document.addEventListener("input", clearFieldError);
document.addEventListener("change", clearFieldError);

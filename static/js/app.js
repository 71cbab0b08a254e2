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

// A timeline card shows its take's poster, not a player: the controls would cover it. It
// plays, muted, while the pointer rests on it; the shot page has the real player.
function quietCardVideos(root) {
  root.querySelectorAll?.(".shot-frame video.player").forEach((video) => {
    video.removeAttribute("controls");
    video.muted = true;
    video.addEventListener("mouseenter", () => video.play().catch(() => {}));
    video.addEventListener("mouseleave", () => { video.pause(); video.currentTime = 0; });
  });
}
document.addEventListener("DOMContentLoaded", () => quietCardVideos(document));
document.addEventListener("htmx:load", (event) => quietCardVideos(event.detail.elt.parentElement || document));

// A success message ("Rendering 1 take — 3 credits reserved") says what just happened;
// it leaves after a few seconds rather than outlasting the render it announced.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".flash-success").forEach((flash) => {
    setTimeout(() => {
      flash.classList.add("is-leaving");
      setTimeout(() => flash.remove(), 500);
    }, 8000);
  });
});

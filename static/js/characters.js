// Locked characters: @Name completion in the composer's prompt, the composer's picker while a
// character trains, and the shot page's lock (pick a frame of the take, drag a box around the
// figure). No inline script: CSP is on.
(function () {
  "use strict";

  // --- @Name completion -----------------------------------------------------------------
  function mentionAt(text, caret) {
    const m = /(^|[^\w@])@([A-Za-z][A-Za-z0-9_-]*)?$/.exec(text.slice(0, caret));
    return m ? { start: caret - (m[2] || "").length - 1, typed: m[2] || "" } : null;
  }

  function setupCompletion(area) {
    let names = null;
    const list = document.createElement("ul");
    list.className = "mention-list";
    list.setAttribute("role", "listbox");
    list.id = "mention-list";
    list.hidden = true;
    area.setAttribute("aria-controls", list.id);
    area.insertAdjacentElement("afterend", list);
    let active = 0;

    // A training that ends changes who is ready: ask again.
    document.addEventListener("characters:changed", () => (names = null));

    function load() {
      if (names) return Promise.resolve(names);
      return fetch(area.dataset.characterNames, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : { characters: [] }))
        .then((d) => (names = d.characters));
    }

    function choose(name) {
      const found = mentionAt(area.value, area.selectionStart);
      if (!found) return;
      const before = area.value.slice(0, found.start);
      const after = area.value.slice(area.selectionStart);
      area.value = `${before}@${name} ${after.replace(/^\s+/, "")}`;
      const caret = before.length + name.length + 2;
      area.setSelectionRange(caret, caret);
      list.hidden = true;
      area.dispatchEvent(new Event("input", { bubbles: true }));
      area.dispatchEvent(new Event("change", { bubbles: true }));
      area.focus();
    }

    function show() {
      const found = mentionAt(area.value, area.selectionStart);
      if (!found) {
        list.hidden = true;
        return;
      }
      load().then((all) => {
        const typed = found.typed.toLowerCase();
        const hits = all.filter((c) => c.name.toLowerCase().startsWith(typed)).slice(0, 8);
        list.replaceChildren();
        hits.forEach((c, i) => {
          const li = document.createElement("li");
          li.setAttribute("role", "option");
          li.dataset.name = c.name;
          li.textContent = `@${c.name}${c.ready ? "" : " (training)"}`;
          if (i === 0) li.setAttribute("aria-selected", "true");
          li.addEventListener("mousedown", (e) => {
            e.preventDefault();
            choose(c.name);
          });
          list.appendChild(li);
        });
        active = 0;
        list.hidden = hits.length === 0;
      });
    }

    area.addEventListener("input", show);
    area.addEventListener("keydown", (e) => {
      if (list.hidden) return;
      const items = list.querySelectorAll("li");
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        items[active].removeAttribute("aria-selected");
        active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        items[active].setAttribute("aria-selected", "true");
      } else if (e.key === "Enter" || e.key === "Tab") {
        e.preventDefault();
        choose(items[active].dataset.name);
      } else if (e.key === "Escape") {
        list.hidden = true;
      }
    });
    area.addEventListener("blur", () => setTimeout(() => (list.hidden = true), 150));
  }

  // --- the composer's picker while a character trains -------------------------------------
  // Each training's status is swapped in by its character's websocket (or the polling
  // fallback); its chip follows the percentage, and when the training ends the picker is
  // fetched again, so the chip becomes selectable (or says why not) without a reload. A fetch
  // that fails (network, server) leaves the old picker in place: it is tried again, 2 s, 4 s, …
  // up to 30 s apart, and the training's chips say so meanwhile.
  const PICKER_RETRY_MS = [2000, 4000, 8000, 16000, 30000];

  function refreshPicker(picker, attempt = 0) {
    const params = new URLSearchParams();
    picker
      .querySelectorAll("input[name=characters]:checked")
      .forEach((box) => params.append("characters", box.value));
    picker.querySelectorAll("[data-watch]").forEach((row) => params.append("watch", row.dataset.watch));
    const url = `${picker.dataset.refreshUrl}?${params}`;
    const retry = () => {
      if (!picker.isConnected) return; // swapped: the new picker is in the page
      picker.querySelectorAll("[data-watch]").forEach((row) => {
        const note = picker.querySelector(`[data-chip-note="${row.dataset.watch}"]`);
        if (note) note.textContent = note.dataset.prefix + "finished — updating…";
      });
      const delay = PICKER_RETRY_MS[Math.min(attempt, PICKER_RETRY_MS.length - 1)];
      setTimeout(() => refreshPicker(picker, attempt + 1), delay);
    };
    htmx
      .ajax("GET", url, { source: picker, target: "#character-picker", swap: "outerHTML" })
      .then(() => {
        if (picker.isConnected) retry();
        else document.dispatchEvent(new Event("characters:changed"));
      }, retry);
  }

  function syncPicker(picker) {
    let ended = false;
    picker.querySelectorAll("[data-watch][data-pending]").forEach((row) => {
      const status = row.querySelector(".job-status[data-state]");
      if (!status) return;
      const state = status.dataset.state;
      if (state === "queued" || state === "training") {
        const note = picker.querySelector(`[data-chip-note="${row.dataset.watch}"]`);
        const bar = status.querySelector("[aria-valuenow]");
        const percent = bar ? bar.getAttribute("aria-valuenow") : "0";
        if (note) note.textContent = note.dataset.prefix + (state === "queued" ? "queued" : `training — ${percent} %`);
        return;
      }
      row.removeAttribute("data-pending");
      ended = true;
    });
    if (ended) refreshPicker(picker);
  }

  // A status that changed between the page's render and the socket's opening is fetched
  // once: a training that ended in that moment sends nothing more.
  function catchUp(event) {
    const row = event.target.closest?.("[data-watch][data-pending]");
    const status = row?.querySelector(".job-status[hx-get]");
    if (!status) return;
    htmx.ajax("GET", status.getAttribute("hx-get"), { source: row, target: `#${status.id}`, swap: "outerHTML" });
  }

  // --- lock from a take: frame + box -----------------------------------------------------
  function setupLock(form) {
    const video = document.querySelector(form.dataset.video);
    const stage = form.querySelector("[data-lock-stage]");
    const still = form.querySelector("[data-lock-still]");
    const box = form.querySelector("[data-lock-box]");
    const fps = Number(form.dataset.fps) || 24;
    const field = (n) => form.querySelector(`[name="${n}"]`);
    if (!stage || !still || !box) return;

    function grab() {
      if (!video || !video.videoWidth) return;
      still.width = video.videoWidth;
      still.height = video.videoHeight;
      still.getContext("2d").drawImage(video, 0, 0);
      field("frame").value = Math.round(video.currentTime * fps);
      stage.hidden = false;
    }
    form.querySelector("[data-lock-grab]")?.addEventListener("click", grab);

    let start = null;
    function point(e) {
      const r = still.getBoundingClientRect();
      const x = Math.min(Math.max(e.clientX - r.left, 0), r.width);
      const y = Math.min(Math.max(e.clientY - r.top, 0), r.height);
      return { x, y, sx: still.width / r.width, sy: still.height / r.height };
    }
    function draw(a, b) {
      const left = Math.min(a.x, b.x);
      const top = Math.min(a.y, b.y);
      const w = Math.abs(a.x - b.x);
      const h = Math.abs(a.y - b.y);
      box.style.left = `${left}px`;
      box.style.top = `${top}px`;
      box.style.width = `${w}px`;
      box.style.height = `${h}px`;
      box.hidden = false;
      field("x").value = Math.round(left * a.sx);
      field("y").value = Math.round(top * a.sy);
      field("w").value = Math.max(1, Math.round(w * a.sx));
      field("h").value = Math.max(1, Math.round(h * a.sy));
    }
    still.addEventListener("pointerdown", (e) => {
      start = point(e);
      still.setPointerCapture(e.pointerId);
      e.preventDefault();
    });
    still.addEventListener("pointermove", (e) => start && draw(start, point(e)));
    still.addEventListener("pointerup", (e) => {
      if (start) draw(start, point(e));
      start = null;
    });
  }

  function once(el, setup) {
    if (el.dataset.charactersReady) return;
    el.dataset.charactersReady = "1";
    setup(el);
  }
  function init() {
    document
      .querySelectorAll("textarea[data-character-names]")
      .forEach((el) => once(el, setupCompletion));
    document.querySelectorAll("form[data-lock-take]").forEach((el) => once(el, setupLock));
    document.querySelectorAll("[data-character-picker]").forEach(syncPicker);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
  // htmx swaps the prompt back in when a camera chip is removed.
  document.addEventListener("htmx:afterSettle", init);
  document.addEventListener("htmx:wsAfterMessage", init);
  document.addEventListener("htmx:wsOpen", catchUp);
})();

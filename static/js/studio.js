// The studio's small enhancements. Every control works without this file; it adds
// dragging, keyboard shortcuts, chip acceptance and the keyframe editor.
(() => {
  "use strict";
  const FINAL = new Set(["succeeded", "failed", "cancelled"]);
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  // --- jobs settling: refresh the credits badge and the take's result panel ---------------
  const seen = new Map();
  function scanJobs() {
    let settled = false;
    $$(".job-status[data-state]").forEach((el) => {
      const before = seen.get(el.id);
      const now = el.dataset.state;
      if (before && !FINAL.has(before) && FINAL.has(now)) settled = true;
      seen.set(el.id, now);
    });
    if (settled && window.htmx) htmx.trigger(document.body, "job-settled");
  }
  document.addEventListener("htmx:afterSettle", scanJobs);
  document.addEventListener("htmx:oobAfterSwap", scanJobs);
  document.addEventListener("htmx:wsAfterMessage", () => setTimeout(scanJobs, 0));

  // --- timeline: keyboard and drag reorder --------------------------------------------------
  let refocus = null;
  document.addEventListener("keydown", (e) => {
    const card = e.target.closest && e.target.closest(".shot-card[data-shot-id]");
    if (!card || e.target !== card) return;
    if (e.altKey && (e.key === "ArrowLeft" || e.key === "ArrowRight")) {
      const btn = $(`button[data-move="${e.key === "ArrowLeft" ? -1 : 1}"]`, card);
      if (btn && !btn.disabled) { refocus = card.id; btn.click(); }
      e.preventDefault();
    } else if (!e.altKey && (e.key === "ArrowLeft" || e.key === "ArrowRight")) {
      const sib = e.key === "ArrowLeft" ? card.previousElementSibling : card.nextElementSibling;
      if (sib && sib.matches("[data-shot-id]")) sib.focus();
      e.preventDefault();
    } else if (e.key === "Enter" && card.dataset.href) {
      window.location = card.dataset.href;
    }
  });
  document.addEventListener("htmx:beforeRequest", (e) => {
    const card = e.target.closest && e.target.closest(".shot-card[data-shot-id]");
    if (card && !refocus) refocus = card.id;
  });
  document.addEventListener("htmx:afterSettle", () => {
    if (!refocus) return;
    const el = document.getElementById(refocus);
    refocus = null;
    if (el) el.focus();
  });

  let dragged = null;
  document.addEventListener("dragstart", (e) => {
    const card = e.target.closest && e.target.closest(".shot-card[data-shot-id]");
    if (!card) return;
    dragged = card;
    card.classList.add("is-dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.dataset.shotId);
  });
  document.addEventListener("dragover", (e) => {
    if (!dragged) return;
    const over = e.target.closest && e.target.closest(".shot-card[data-shot-id]");
    if (!over || over === dragged) return;
    e.preventDefault();
    const r = over.getBoundingClientRect();
    const after = e.clientX > r.left + r.width / 2;
    over.parentNode.insertBefore(dragged, after ? over.nextSibling : over);
  });
  document.addEventListener("dragend", () => {
    if (!dragged) return;
    const list = dragged.closest("[data-reorder-url]");
    dragged.classList.remove("is-dragging");
    refocus = dragged.id;
    dragged = null;
    if (!list || !window.htmx) return;
    const order = $$("[data-shot-id]", list).map((c) => c.dataset.shotId);
    htmx.ajax("POST", list.dataset.reorderUrl, {
      target: "#timeline", swap: "outerHTML", values: { order },
    });
  });

  // --- composer: sliders, seed, chips -------------------------------------------------------
  function fire(el) {
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
  }
  document.addEventListener("input", (e) => {
    const t = e.target;
    if (t.dataset && t.dataset.sync) {
      const num = document.getElementById(t.dataset.sync);
      if (num) { num.value = t.value; }
    } else if (t.id) {
      const range = $(`input[type=range][data-sync="${t.id}"]`);
      if (range) range.value = t.value;
    }
  });
  function syncSeed() {
    const fixed = $("input[name=seed_mode][value=fixed]");
    const seed = $("#id_seed");
    if (!fixed || !seed) return;
    seed.disabled = !fixed.checked;
    seed.placeholder = fixed.checked ? "seed" : "random";
  }
  function syncMode() {
    const checked = $("#composer input[name=mode]:checked");
    const mode = checked ? checked.value : "t2v";
    $$("[data-mode-show]").forEach((el) => { el.hidden = !el.dataset.modeShow.split(" ").includes(mode); });
    // Loop only where the mode chooses its first frame freely; the help beside it says so.
    $$("#composer [data-loop-modes]").forEach((box) => {
      box.disabled = !box.dataset.loopModes.split(" ").includes(mode);
    });
  }
  document.addEventListener("change", (e) => {
    if (e.target.name === "seed_mode") syncSeed();
    if (e.target.name === "mode") syncMode();
  });

  function setField(name, value) {
    const radios = $$(`#composer input[type=radio][name="${name}"]`);
    if (radios.length) {
      radios.forEach((r) => { r.checked = r.value === value; });
      if (radios[0]) fire(radios[0]);
      return;
    }
    const el = $(`#composer [name="${name}"]`);
    if (el) { el.value = value; fire(el); }
  }
  function applyMove(values) {
    const slots = $$("[data-move-slot]");
    const kind = (values.move || "").split(":")[0];
    let slot = slots.find((s) => ($("select", s).value || "").split(":")[0] === kind);
    slot = slot || slots.find((s) => !$("select", s).value);
    if (!slot) return;
    const n = slot.dataset.moveSlot;
    setField(`move_${n}`, values.move);
    if (values.move_speed) setField(`move_${n}_speed`, values.move_speed);
  }
  function acceptChip(chip) {
    const values = JSON.parse(chip.dataset.values || "{}");
    if ("move" in values) applyMove(values);
    else if ("move_easing" in values) {
      $$("[data-move-slot]").forEach((s) => {
        if ($("select", s).value) setField(`move_${s.dataset.moveSlot}_easing`, values.move_easing);
      });
    } else Object.entries(values).forEach(([k, v]) => setField(k, v));
    chip.classList.add("is-accepted");
  }
  document.addEventListener("click", (e) => {
    const accept = e.target.closest("[data-chip-accept]");
    if (accept) { acceptChip(accept.closest("[data-chip]")); return; }
    if (e.target.closest("[data-chip-accept-all]")) {
      // Moves before easing, so the easing lands on the moves just set.
      const chips = $$("[data-chip]:not(.chip-error)");
      chips.sort((a, b) => ("move_easing" in JSON.parse(a.dataset.values || "{}")) - ("move_easing" in JSON.parse(b.dataset.values || "{}")));
      chips.forEach(acceptChip);
    }
  });

  // --- player: frame step ------------------------------------------------------------------
  function transportVideo(bar) { return $(bar.dataset.target); }
  function showFrame(bar) {
    const v = transportVideo(bar);
    const tc = $("[data-timecode]", bar);
    if (!v || !tc) return;
    const fps = parseFloat(bar.dataset.fps) || 24;
    const total = Math.round((v.duration || 0) * fps);
    tc.textContent = `frame ${Math.round(v.currentTime * fps)} / ${total || "–"}`;
  }
  function step(bar, n) {
    const v = transportVideo(bar);
    if (!v) return;
    const fps = parseFloat(bar.dataset.fps) || 24;
    v.pause();
    const frame = Math.round(v.currentTime * fps) + n;
    v.currentTime = Math.max(0, Math.min((v.duration || 0) - 0.5 / fps, (frame + 0.01) / fps));
  }
  document.addEventListener("click", (e) => {
    const bar = e.target.closest("[data-transport]");
    if (!bar) return;
    const b = e.target.closest("button");
    if (!b) return;
    if (b.dataset.step) step(bar, parseInt(b.dataset.step, 10));
    if ("play" in b.dataset) { const v = transportVideo(bar); if (v) (v.paused ? v.play() : v.pause()); }
  });
  document.addEventListener("keydown", (e) => {
    const bar = $("[data-transport]");
    if (!bar || e.target.closest("input, textarea, select")) return;
    if (e.key === ",") step(bar, -1);
    else if (e.key === ".") step(bar, 1);
    else if (e.key === "k") { const v = transportVideo(bar); if (v) (v.paused ? v.play() : v.pause()); }
  });
  document.addEventListener("timeupdate", (e) => {
    const bar = $("[data-transport]");
    if (bar && e.target === transportVideo(bar)) showFrame(bar);
  }, true);
  document.addEventListener("seeked", (e) => {
    const bar = $("[data-transport]");
    if (bar && e.target === transportVideo(bar)) showFrame(bar);
  }, true);
  document.addEventListener("loadedmetadata", (e) => {
    const bar = $("[data-transport]");
    if (bar && e.target === transportVideo(bar)) showFrame(bar);
  }, true);

  // --- keyframes ---------------------------------------------------------------------------
  const BASE = { position: [0, 1.6, -6], look_at: [0, 1, 0] };
  function keyframeEditor(root) {
    const area = $("#id_keyframes", root);
    const track = $("[data-kf-track]", root);
    const inspector = $("[data-kf-inspector]", root);
    const svg = $("[data-kf-path]", root);
    const count = $("[data-kf-count]", root);
    const durationInput = document.getElementById(root.dataset.durationInput);
    let kfs = [];
    let selected = -1;
    try { kfs = JSON.parse(area.value || "[]"); } catch (_) { return; }
    if (!Array.isArray(kfs)) return;
    $$("[data-kf-ui]", root).forEach((el) => { el.hidden = false; });
    $("[data-kf-fallback]", root).classList.add("visually-hidden");

    const duration = () => Math.max(1, parseFloat(durationInput && durationInput.value) || 1);
    const round = (x) => Math.round(x * 100) / 100;
    function save() {
      kfs.sort((a, b) => a.t - b.t);
      area.value = kfs.length ? JSON.stringify(kfs) : "";
      fire(area);
    }
    function render() {
      $$(".kf-marker", track).forEach((m) => m.remove());
      const d = duration();
      kfs.forEach((k, i) => {
        const m = document.createElement("button");
        m.type = "button";
        m.className = "kf-marker" + (i === selected ? " is-selected" : "");
        m.style.left = `${Math.min(100, (k.t / d) * 100)}%`;
        m.setAttribute("aria-label", `Keyframe at ${k.t} s`);
        m.dataset.index = i;
        track.appendChild(m);
      });
      $("[data-kf-ruler]", track).innerHTML = Array.from({ length: Math.floor(d) + 1 }, (_, s) =>
        `<span style="left:${(s / d) * 100}%">${s}s</span>`).join("");
      count.textContent = kfs.length ? `${kfs.length} keyframe${kfs.length > 1 ? "s" : ""}` : "no keyframes: the scene's base camera";
      renderInspector();
      renderPath();
    }
    function renderInspector() {
      const k = kfs[selected];
      if (!k) { inspector.innerHTML = `<p class="faint small">Add a keyframe, then select it to set where the camera is and what it looks at (metres; the subject stands at 0, 0, 0).</p>`; return; }
      const num = (name, value, label, step = "0.1") =>
        `<label><span>${label}</span><input type="number" step="${step}" data-kf-field="${name}" value="${value ?? ""}"></label>`;
      inspector.innerHTML = `<div class="kf-fields">${num("t", k.t, "time s")}
        ${num("p0", k.position[0], "cam x")}${num("p1", k.position[1], "cam y")}${num("p2", k.position[2], "cam z")}
        ${num("l0", k.look_at[0], "look x")}${num("l1", k.look_at[1], "look y")}${num("l2", k.look_at[2], "look z")}
        ${num("focal_mm", k.focal_mm, "lens mm", "1")}</div>
        <button class="btn btn-small btn-danger" type="button" data-kf-delete>Delete keyframe</button>`;
    }
    function renderPath() {
      const pts = kfs.length ? kfs : [BASE];
      const xy = (p) => [p[0], p[2]];
      let out = `<circle cx="0" cy="0" r="0.5" class="kf-subject"/><text x="0.8" y="0.3" class="kf-text">subject</text>`;
      if (pts.length > 1) out += `<polyline class="kf-line" points="${pts.map((k) => xy(k.position).join(",")).join(" ")}"/>`;
      pts.forEach((k, i) => {
        const [x, z] = xy(k.position);
        const [lx, lz] = xy(k.look_at);
        const len = Math.hypot(lx - x, lz - z) || 1;
        out += `<line class="kf-look" x1="${x}" y1="${z}" x2="${x + ((lx - x) / len) * 1.2}" y2="${z + ((lz - z) / len) * 1.2}"/>`;
        out += `<circle class="kf-cam${i === selected ? " is-selected" : ""}" cx="${x}" cy="${z}" r="0.35"/>`;
      });
      svg.innerHTML = out;
    }
    root.addEventListener("click", (e) => {
      if (e.target.closest("[data-kf-add]")) {
        const d = duration();
        const last = kfs[kfs.length - 1];
        const t = last ? Math.min(d, round(last.t + d / 4)) : 0;
        if (kfs.some((k) => k.t === t)) return;
        const from = last || BASE;
        kfs.push({ t, position: last ? [from.position[0] + 1, from.position[1], from.position[2] + 1] : [...BASE.position], look_at: [...from.look_at], focal_mm: null, focus_m: null });
        kfs.sort((a, b) => a.t - b.t);
        selected = kfs.findIndex((k) => k.t === t);
        save(); render();
      } else if (e.target.closest(".kf-marker")) {
        selected = parseInt(e.target.closest(".kf-marker").dataset.index, 10);
        render();
        const m = $(`.kf-marker[data-index="${selected}"]`, track); if (m) m.focus();
      } else if (e.target.closest("[data-kf-delete]")) {
        kfs.splice(selected, 1); selected = -1; save(); render();
      }
    });
    inspector.addEventListener("change", (e) => {
      const f = e.target.dataset.kfField; const k = kfs[selected];
      if (!f || !k) return;
      const v = e.target.value === "" ? null : parseFloat(e.target.value);
      if (f === "t") k.t = Math.max(0, v || 0);
      else if (f[0] === "p") k.position[+f[1]] = v || 0;
      else if (f[0] === "l") k.look_at[+f[1]] = v || 0;
      else k[f] = v;
      save(); selected = kfs.indexOf(k); render();
    });
    track.addEventListener("keydown", (e) => {
      const m = e.target.closest(".kf-marker"); if (!m) return;
      const k = kfs[+m.dataset.index];
      if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
        const delta = (e.key === "ArrowLeft" ? -1 : 1) * (e.shiftKey ? 0.5 : 0.1);
        k.t = round(Math.max(0, Math.min(duration(), k.t + delta)));
        save(); selected = kfs.indexOf(k); render();
        $(`.kf-marker[data-index="${selected}"]`, track).focus();
        e.preventDefault();
      } else if (e.key === "Delete" || e.key === "Backspace") {
        kfs.splice(+m.dataset.index, 1); selected = -1; save(); render(); e.preventDefault();
      }
    });
    track.addEventListener("pointerdown", (e) => {
      const m = e.target.closest(".kf-marker"); if (!m) return;
      const k = kfs[+m.dataset.index];
      selected = +m.dataset.index;
      m.setPointerCapture(e.pointerId);
      const move = (ev) => {
        const r = track.getBoundingClientRect();
        k.t = round(Math.max(0, Math.min(1, (ev.clientX - r.left) / r.width)) * duration());
        m.style.left = `${(k.t / duration()) * 100}%`;
        m.setAttribute("aria-label", `Keyframe at ${k.t} s`);
      };
      const up = () => {
        m.removeEventListener("pointermove", move); m.removeEventListener("pointerup", up);
        save(); selected = kfs.indexOf(k); render();
      };
      m.addEventListener("pointermove", move); m.addEventListener("pointerup", up);
    });
    if (durationInput) durationInput.addEventListener("change", render);
    render();
  }

  function init() {
    scanJobs();
    syncSeed();
    syncMode();
    $$("[data-kf-editor]").forEach(keyframeEditor);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

// The storyboard player: plays every shot's circled take in timeline order, crossfades
// included, highlights the playing shot's card and scrubs across shots. It reads the cards'
// data attributes (data-src, data-in, data-length, data-transition, data-transition-s), so
// it follows the timeline as htmx swaps it. Two <video> layers: during a crossfade the next
// shot plays on the upper one and fades in.
(() => {
  "use strict";
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const DRIFT_S = 0.25;

  function segments() {
    const out = [];
    let end = 0;
    $$("#timeline [data-shot-id]").forEach((card) => {
      if (!card.dataset.src) return;
      const length = parseFloat(card.dataset.length) || parseFloat(card.dataset.duration) || 0;
      const fade = out.length && card.dataset.transition === "crossfade"
        ? Math.min(parseFloat(card.dataset.transitionS) || 0, length / 2, out[out.length - 1].length / 2)
        : 0;
      const start = Math.max(0, end - fade);
      out.push({ card, src: card.dataset.src, inPoint: parseFloat(card.dataset.in) || 0, length, fade, start });
      end = start + length;
    });
    return out;
  }

  function player(root) {
    const layers = $$("video[data-layer]", root);
    const playBtn = $("[data-sb-play]", root);
    const scrub = $("[data-sb-scrub]", root);
    const clock = $("[data-sb-time]", root);
    let segs = [];
    let total = 0;
    let t = 0;
    let playing = false;
    let wallStart = 0;
    let filmStart = 0;
    const owner = new Map(); // layer -> segment it shows

    function rebuild() {
      segs = segments();
      total = segs.length ? segs[segs.length - 1].start + segs[segs.length - 1].length : 0;
      root.hidden = segs.length === 0;
      root.dataset.total = total.toFixed(3);
      t = Math.min(t, total);
      render();
    }

    function active(at) {
      // The segments on screen at time `at`: one, or two inside a crossfade.
      const on = segs.filter((s) => at >= s.start && at < s.start + s.length);
      if (!on.length && segs.length && at >= total) return [segs[segs.length - 1]];
      return on.slice(-2);
    }

    function show(layer, seg, at, opacity) {
      if (owner.get(layer) !== seg) {
        owner.set(layer, seg);
        if (layer.getAttribute("src") !== seg.src) layer.setAttribute("src", seg.src);
      }
      const want = seg.inPoint + Math.max(0, Math.min(seg.length, at - seg.start));
      if (layer.readyState >= 1 && Math.abs(layer.currentTime - want) > DRIFT_S) {
        layer.currentTime = want;
      } else if (layer.readyState < 1) {
        layer.addEventListener("loadedmetadata", () => { layer.currentTime = want; }, { once: true });
      }
      layer.style.opacity = String(opacity);
      if (playing && layer.paused) layer.play().catch(() => {});
      if (!playing && !layer.paused) layer.pause();
    }

    function render() {
      const on = active(t);
      const [base, over] = on;
      if (base) show(layers[0], base, t, 1);
      if (over) show(layers[1], over, t, Math.min(1, (t - over.start) / (over.fade || 1)));
      else { layers[1].style.opacity = "0"; if (!layers[1].paused) layers[1].pause(); owner.delete(layers[1]); }
      const current = on.length ? on[on.length - 1] : null;
      $$("#timeline .is-playing").forEach((c) => { if (!current || c !== current.card) { c.classList.remove("is-playing"); c.removeAttribute("aria-current"); } });
      if (current) { current.card.classList.add("is-playing"); current.card.setAttribute("aria-current", "true"); }
      root.dataset.playing = current ? String(segs.indexOf(current) + 1) : "";
      root.dataset.time = t.toFixed(3);
      clock.textContent = `${t.toFixed(1)} / ${total.toFixed(1)} s`;
      if (document.activeElement !== scrub) scrub.value = total ? String(Math.round((t / total) * 1000)) : "0";
    }

    function tick(now) {
      if (!playing) return;
      t = filmStart + (now - wallStart) / 1000;
      if (t >= total) { t = total; stop(); root.dataset.ended = "1"; }
      render();
      if (playing) requestAnimationFrame(tick);
    }

    function start() {
      if (!segs.length) return;
      if (t >= total) t = 0;
      playing = true;
      root.dataset.ended = "";
      filmStart = t;
      wallStart = performance.now();
      playBtn.textContent = "Pause";
      playBtn.setAttribute("aria-pressed", "true");
      render();
      requestAnimationFrame(tick);
    }

    function stop() {
      playing = false;
      playBtn.textContent = "Play";
      playBtn.setAttribute("aria-pressed", "false");
      layers.forEach((v) => v.pause());
    }

    playBtn.addEventListener("click", () => (playing ? stop() : start()));
    scrub.addEventListener("input", () => {
      t = (parseInt(scrub.value, 10) / 1000) * total;
      filmStart = t;
      wallStart = performance.now();
      render();
    });
    document.addEventListener("htmx:afterSettle", rebuild);
    document.addEventListener("htmx:oobAfterSwap", rebuild);
    rebuild();
  }

  function init() {
    $$("[data-storyboard-player]").forEach(player);
    // A take that finishes changes what the player can play and what is left to render:
    // fetch the timeline again (its cards carry both).
    document.body.addEventListener("job-settled", () => {
      const timeline = document.getElementById("timeline");
      if (timeline && window.htmx && $("[data-storyboard-player]")) {
        htmx.ajax("GET", window.location.pathname, { target: "#timeline", swap: "outerHTML" });
      }
    });
    // A transition's seconds only matter for a crossfade.
    document.addEventListener("change", (e) => {
      const select = e.target.closest && e.target.closest("[data-transition-select]");
      if (!select) return;
      const seconds = $(".boundary-seconds", select.form);
      if (seconds) seconds.hidden = select.value !== "crossfade";
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

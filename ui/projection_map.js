// The projection map: two aligned 2-D maps (or one overlaid) drawn on a canvas.
//
// Plotly needs 2-3 s to open 2 x 50k points in Chromium (its 4.7 MB bundle, two full renders, the
// WebGL set-up); a 2-D canvas draws them in about 60 ms. Data comes from
// diagnostics.plots.projection_map_data: coordinates as base64 float32, a color index per point,
// ids and domains as plain strings (rendered with textContent only, never as HTML).
//
// Why hand-written and not embedding-atlas (the field's library for large embedding maps): as of 2026 it
// needs WebGPU (headless Chromium and many locked-down browsers have none), it has no linked zoom
// between two maps (the whole point here: the same region in base and tuned), and it hands a selection
// back only as a SQL predicate over its own DuckDB table, not as rows Python can look up. A 2-D canvas
// does all three in ~400 lines with no dependency.
//
// Interactions: box or lasso selection (sent to Python as row positions with the data's version),
// a click on a point selects it, double-click clears, the wheel zooms both maps together, Pan mode
// drags them, "Reset view" restores the full extent, hovering shows a point's id, kind and domain.

const STATE = new WeakMap(); // per mounted element: decoded data, view and selection across reruns
const PAD = 12;
const TITLE = 18;
const HIT = 8; // px: how close the pointer must be to a point for hover and click

function decode(b64, Type) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Type(bytes.buffer);
}

function prepare(data) {
  const n = data.n;
  const maps = [decode(data.xy_base, Float32Array), decode(data.xy_tuned, Float32Array)];
  const color = decode(data.color, Uint8Array);
  const kind = decode(data.kind, Uint8Array);
  const domain = decode(data.domain, Uint16Array);
  // draw order: grouped by color (one fillStyle change per color), a counting sort
  const counts = new Uint32Array(256);
  for (let i = 0; i < n; i++) counts[color[i]]++;
  const starts = new Uint32Array(257);
  for (let c = 0; c < 256; c++) starts[c + 1] = starts[c] + counts[c];
  const order = new Uint32Array(n);
  const fill = starts.slice(0, 256);
  for (let i = 0; i < n; i++) order[fill[color[i]]++] = i;
  // one extent for both maps, so a point's displacement reads the same on either side
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const xy of maps) {
    for (let i = 0; i < 2 * n; i += 2) {
      const x = xy[i], y = xy[i + 1];
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  if (!(x1 > x0)) { x0 -= 1; x1 += 1; }
  if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
  return { n, maps, color, kind, domain, order, starts, extent: { x0, x1, y0, y1 } };
}

function panels(state, width, height) {
  const overlay = state.data.overlay;
  const count = overlay ? 1 : 2;
  const w = (width - PAD * (count + 1)) / count;
  const out = [];
  for (let p = 0; p < count; p++) {
    out.push({ x: PAD + p * (w + PAD), y: TITLE + 4, w, h: height - TITLE - 4 - PAD, side: overlay ? -1 : p });
  }
  return out;
}

function transform(state, panel) {
  const e = state.prepared.extent;
  const base = Math.min(panel.w / (e.x1 - e.x0), panel.h / (e.y1 - e.y0)) * 0.95;
  const s = base * state.view.k;
  const cx = panel.x + panel.w / 2, cy = panel.y + panel.h / 2;
  return {
    sx: (x) => cx + (x - state.view.cx) * s,
    sy: (y) => cy - (y - state.view.cy) * s,
    dx: (px) => state.view.cx + (px - cx) / s,
    dy: (py) => state.view.cy - (py - cy) / s,
    s,
  };
}

// Draws one map's points into a panel; returns how many of those drawn lie inside the panel.
function drawPoints(ctx, state, xy, t, panel, opts) {
  const { order, starts, kind } = state.prepared;
  const palette = state.data.palette;
  const sel = state.selected;
  const x1 = panel.x + panel.w, y1 = panel.y + panel.h;
  let inside = 0;
  for (let c = 0; c < palette.length; c++) {
    if (starts[c] === starts[c + 1]) continue;
    ctx.fillStyle = palette[c];
    ctx.strokeStyle = palette[c];
    for (let j = starts[c]; j < starts[c + 1]; j++) {
      const i = order[j];
      if (opts.only && !sel[i]) continue;
      const px = t.sx(xy[2 * i]), py = t.sy(xy[2 * i + 1]);
      if (px >= panel.x && px <= x1 && py >= panel.y && py <= y1) inside++;
      if (opts.hollow || kind[i] === 1) ctx.strokeRect(px - 2, py - 2, 4, 4);
      else ctx.fillRect(px - 1.5, py - 1.5, 3, 3);
    }
  }
  return inside;
}

function draw(state) {
  const { canvas, data, prepared } = state;
  const width = canvas.clientWidth, height = data.height;
  const dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.lineWidth = 1;
  state.panels = panels(state, width, height);
  const anySelected = state.selectedCount > 0;
  const inView = [];
  for (const panel of state.panels) {
    const t = transform(state, panel);
    ctx.save();
    ctx.fillStyle = "#31333f";
    ctx.font = "13px sans-serif";
    ctx.textAlign = "center";
    ctx.fillText(panel.side === -1 ? "base (hollow) → tuned" : panel.side === 0 ? "base" : "tuned",
                 panel.x + panel.w / 2, TITLE - 4);
    ctx.strokeStyle = "#e6e6e6";
    ctx.strokeRect(panel.x, panel.y, panel.w, panel.h);
    ctx.beginPath();
    ctx.rect(panel.x, panel.y, panel.w, panel.h);
    ctx.clip();
    const layers = panel.side === -1 ? [[0, true], [1, false]] : [[panel.side, false]];
    if (panel.side === -1) {
      const [b, u] = prepared.maps;
      ctx.globalAlpha = anySelected ? 0.08 : 0.3;
      ctx.strokeStyle = "#505050";
      ctx.lineWidth = 0.5;
      ctx.beginPath();
      for (let i = 0; i < prepared.n; i++) {
        ctx.moveTo(t.sx(b[2 * i]), t.sy(b[2 * i + 1]));
        ctx.lineTo(t.sx(u[2 * i]), t.sy(u[2 * i + 1]));
      }
      ctx.stroke();
      ctx.lineWidth = 1;
    }
    for (const [side, hollow] of layers) {
      ctx.globalAlpha = anySelected ? 0.07 : hollow ? 0.45 : 0.8;
      const inside = drawPoints(ctx, state, prepared.maps[side], t, panel, { hollow });
      if (!hollow) inView.push(inside); // a panel's count: its filled (tuned, when overlaid) points
      if (anySelected) {
        ctx.globalAlpha = 1;
        drawPoints(ctx, state, prepared.maps[side], t, panel, { hollow, only: true });
      }
    }
    ctx.restore();
  }
  state.grid = null; // the hover index follows the view: rebuilt on the next hover
  // for tests and tools: the zoom factor and, per panel, how many points lie inside it
  canvas.setAttribute("data-zoom", state.view.k.toFixed(3));
  canvas.setAttribute("data-in-view", inView.join(","));
  canvas.setAttribute("data-drawn", String(prepared.n));
  canvas.setAttribute("data-color", data.color_by);
  canvas.setAttribute("data-version", data.version);
}

function panelAt(state, px, py) {
  return (state.panels || []).find((p) => px >= p.x && px <= p.x + p.w && py >= p.y && py <= p.y + p.h);
}

function nearest(state, panel, px, py) {
  // a grid of HIT-sized cells over the panel's screen positions, built on demand
  if (!state.grid || state.grid.panel !== panel) {
    const t = transform(state, panel);
    const side = panel.side === -1 ? 1 : panel.side;
    const xy = state.prepared.maps[side];
    const cells = new Map();
    for (let i = 0; i < state.prepared.n; i++) {
      const sx = t.sx(xy[2 * i]), sy = t.sy(xy[2 * i + 1]);
      if (sx < panel.x || sx > panel.x + panel.w || sy < panel.y || sy > panel.y + panel.h) continue;
      const key = Math.floor(sx / HIT) * 100003 + Math.floor(sy / HIT);
      let list = cells.get(key);
      if (!list) cells.set(key, (list = []));
      list.push(i, sx, sy);
    }
    state.grid = { panel, cells };
  }
  let best = -1, bestD = HIT * HIT;
  const gx = Math.floor(px / HIT), gy = Math.floor(py / HIT);
  for (let ix = gx - 1; ix <= gx + 1; ix++) {
    for (let iy = gy - 1; iy <= gy + 1; iy++) {
      const list = state.grid.cells.get(ix * 100003 + iy);
      if (!list) continue;
      for (let j = 0; j < list.length; j += 3) {
        const d = (list[j + 1] - px) ** 2 + (list[j + 2] - py) ** 2;
        if (d <= bestD) { bestD = d; best = list[j]; }
      }
    }
  }
  return best;
}

function inside(poly, x, y) {
  let hit = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

function select(state, panel, shape) {
  const t = transform(state, panel);
  const side = panel.side === -1 ? 1 : panel.side;
  const xy = state.prepared.maps[side];
  const rows = [];
  const test = shape.box
    ? (sx, sy) => sx >= shape.box[0] && sx <= shape.box[2] && sy >= shape.box[1] && sy <= shape.box[3]
    : (sx, sy) => inside(shape.lasso, sx, sy);
  for (let i = 0; i < state.prepared.n; i++) {
    const sx = t.sx(xy[2 * i]), sy = t.sy(xy[2 * i + 1]);
    if (sx < panel.x || sx > panel.x + panel.w || sy < panel.y || sy > panel.y + panel.h) continue;
    if (test(sx, sy)) rows.push(i);
  }
  return rows;
}

function setSelection(state, rows, send) {
  state.selected = new Uint8Array(state.prepared.n);
  for (const r of rows) state.selected[r] = 1;
  state.selectedCount = rows.length;
  draw(state);
  send({ rows, version: state.data.version });
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const root = parentElement.querySelector(".fm");
  const canvas = root.querySelector("canvas.points");
  const sketch = root.querySelector("canvas.sketch");
  const tip = root.querySelector(".tip");
  const legend = root.querySelector(".legend");
  let state = STATE.get(parentElement);
  if (!state || state.data.version !== data.version) {
    const prepared = prepare(data);
    const e = prepared.extent;
    state = {
      data, prepared, canvas,
      view: { k: 1, cx: (e.x0 + e.x1) / 2, cy: (e.y0 + e.y1) / 2 },
      home: { k: 1, cx: (e.x0 + e.x1) / 2, cy: (e.y0 + e.y1) / 2 },
      mode: (STATE.get(parentElement) || {}).mode || "box",
      selected: new Uint8Array(prepared.n),
      selectedCount: 0,
    };
    STATE.set(parentElement, state);
  }
  state.data = data;
  state.canvas = canvas;
  canvas.style.height = sketch.style.height = `${data.height}px`;
  legend.replaceChildren();
  for (const [label, color] of data.legend) {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = color;
    item.append(swatch, document.createTextNode(label));
    legend.append(item);
  }
  const key = document.createElement("span");
  key.className = "key";
  key.textContent = data.overlay
    ? "hollow: base position · filled: tuned position · line: its displacement"
    : "filled: document · hollow: query";
  legend.append(key);
  const send = (value) => setStateValue("selection", value);
  const buttons = root.querySelectorAll("button[data-mode]");
  const showMode = () => buttons.forEach((b) => b.classList.toggle("on", b.dataset.mode === state.mode));
  showMode();
  draw(state);

  const local = (ev) => {
    const r = canvas.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  };
  const sk = sketch.getContext("2d");
  const clearSketch = () => {
    const dpr = window.devicePixelRatio || 1;
    sketch.width = canvas.width;
    sketch.height = canvas.height;
    sk.setTransform(dpr, 0, 0, dpr, 0, 0);
  };
  let drag = null;
  let frame = 0;
  const redraw = () => {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(state); });
  };

  const onDown = (ev) => {
    if (ev.button !== 0) return;
    const [px, py] = local(ev);
    const panel = panelAt(state, px, py);
    if (!panel) return;
    drag = { panel, px, py, path: [[px, py]], view: { ...state.view }, far: 0 };
    tip.style.display = "none";
    ev.preventDefault();
  };
  const onMove = (ev) => {
    const [px, py] = local(ev);
    if (!drag) {
      const panel = panelAt(state, px, py);
      const i = panel ? nearest(state, panel, px, py) : -1;
      if (i < 0) { tip.style.display = "none"; return; }
      const p = state.prepared;
      let text = `${data.ids[i]}\n${p.kind[i] === 1 ? "query" : "document"} · ${data.domains[p.domain[i]]}`;
      if (data.values) text += `\n${data.color_label}: ${data.values[i] === null ? "—" : data.values[i]}`;
      tip.textContent = text; // plain text: ids and domains are untrusted
      tip.style.display = "block";
      tip.style.left = `${Math.min(px + 12, canvas.clientWidth - 220)}px`;
      tip.style.top = `${py + 12}px`;
      return;
    }
    drag.far = Math.max(drag.far, (px - drag.px) ** 2 + (py - drag.py) ** 2);
    if (state.mode === "pan") {
      const t = transform(state, drag.panel);
      state.view.cx = drag.view.cx - (px - drag.px) / t.s;
      state.view.cy = drag.view.cy + (py - drag.py) / t.s;
      redraw();
      return;
    }
    clearSketch();
    sk.strokeStyle = "#ff4b4b";
    sk.fillStyle = "rgba(255, 75, 75, 0.08)";
    sk.setLineDash([4, 3]);
    if (state.mode === "box") {
      sk.fillRect(drag.px, drag.py, px - drag.px, py - drag.py);
      sk.strokeRect(drag.px, drag.py, px - drag.px, py - drag.py);
    } else {
      const last = drag.path[drag.path.length - 1];
      if ((last[0] - px) ** 2 + (last[1] - py) ** 2 > 9) drag.path.push([px, py]);
      sk.beginPath();
      drag.path.forEach(([x, y], k) => (k ? sk.lineTo(x, y) : sk.moveTo(x, y)));
      sk.closePath();
      sk.fill();
      sk.stroke();
    }
  };
  const onUp = (ev) => {
    if (!drag) return;
    const [px, py] = local(ev);
    const d = drag;
    drag = null;
    clearSketch();
    if (state.mode === "pan") return;
    // a click (the pointer never left a 3-px circle; a lasso closed where it began is no click): the
    // point under the pointer, if any
    if (Math.max(d.far, (px - d.px) ** 2 + (py - d.py) ** 2) < 9) {
      const i = nearest(state, d.panel, px, py);
      if (i >= 0) setSelection(state, [i], send);
      return;
    }
    const shape = state.mode === "box"
      ? { box: [Math.min(d.px, px), Math.min(d.py, py), Math.max(d.px, px), Math.max(d.py, py)] }
      : { lasso: d.path.length > 2 ? d.path : [[d.px, d.py], [px, d.py], [px, py], [d.px, py]] };
    setSelection(state, select(state, d.panel, shape), send);
  };
  const onWheel = (ev) => {
    const [px, py] = local(ev);
    const panel = panelAt(state, px, py);
    if (!panel) return;
    ev.preventDefault();
    const t = transform(state, panel);
    const x = t.dx(px), y = t.dy(py);
    const factor = Math.exp(-ev.deltaY * 0.0015);
    state.view.k = Math.min(200, Math.max(0.5, state.view.k * factor));
    const t2 = transform(state, panel);
    state.view.cx += x - t2.dx(px);
    state.view.cy += y - t2.dy(py);
    redraw();
  };
  const onLeave = () => { tip.style.display = "none"; };
  const onDouble = () => setSelection(state, [], send);
  const onBar = (ev) => {
    const b = ev.target.closest("button");
    if (!b) return;
    if (b.dataset.mode) { state.mode = b.dataset.mode; showMode(); }
    if (b.dataset.act === "reset") { state.view = { ...state.home }; draw(state); }
  };
  const onResize = () => redraw();
  const bar = root.querySelector(".bar");
  const observer = new ResizeObserver(onResize);
  observer.observe(canvas);
  sketch.addEventListener("pointerdown", onDown);
  window.addEventListener("pointermove", onMove);
  window.addEventListener("pointerup", onUp);
  sketch.addEventListener("wheel", onWheel, { passive: false });
  sketch.addEventListener("pointerleave", onLeave);
  sketch.addEventListener("dblclick", onDouble);
  bar.addEventListener("click", onBar);
  return () => {
    observer.disconnect();
    sketch.removeEventListener("pointerdown", onDown);
    window.removeEventListener("pointermove", onMove);
    window.removeEventListener("pointerup", onUp);
    sketch.removeEventListener("wheel", onWheel);
    sketch.removeEventListener("pointerleave", onLeave);
    sketch.removeEventListener("dblclick", onDouble);
    bar.removeEventListener("click", onBar);
    if (frame) cancelAnimationFrame(frame);
  };
}

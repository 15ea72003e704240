// twingym live dashboard: draws the twin from its published measurements (SVG) and strip charts (uPlot).
// Messages from /ws: hello (twin description, events), history (recent frames), frame, event, twin.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const W = 800, H = 460;             // the picture's drawing units (viewBox)
const MAX_POINTS = 400;             // points per strip chart
const COLORS = ["#1769aa", "#d98a00", "#1f9d55", "#c8322f", "#6b46c1", "#0f8b8d", "#8c564b", "#e377c2"];

const ui = {
  twin: null, labels: null, actions: null, view: null, charts: [], lastStep: -1, selected: 0,
  received: [], frame: null,
};

// ---- helpers ------------------------------------------------------------------------------------
function $(id) { return document.getElementById(id); }
function el(tag, attrs, parent) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}
function fmt(v, digits) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  return v.toFixed(digits === undefined ? 2 : digits);
}
function parseLabel(text) {            // "asset/name [unit]"
  const m = /^(.*?)\/(.*?) \[(.*)\]$/.exec(text);
  return m ? { asset: m[1], name: m[2], unit: m[3], text } : { asset: "twin", name: text, unit: "", text };
}
function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }
function loadColor(f) {                // 0 green -> 0.5 yellow -> >=1 red
  const x = clamp(Number.isFinite(f) ? f : 0, 0, 1);
  const r = x < 0.5 ? Math.round(60 + 390 * x) : 230, g = x < 0.5 ? 170 : Math.round(170 - 250 * (x - 0.5) * 1.2);
  return `rgb(${r},${clamp(g, 30, 200)},40)`;
}
function fmtTime(s) {
  if (!Number.isFinite(s)) return "–";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}`;
}

// Index of the measurements by asset and name: L.get("turbine_0", "power") -> index into frame.m
class Labels {
  constructor(labels) {
    this.list = labels.map(parseLabel);
    this.map = new Map(this.list.map((l, i) => [`${l.asset}/${l.name}`, i]));
  }
  get(asset, name) { return this.map.has(`${asset}/${name}`) ? this.map.get(`${asset}/${name}`) : -1; }
  value(frame, asset, name) { const i = this.get(asset, name); return i < 0 ? NaN : num(frame.m[i]); }
  assets(prefix) {
    const out = [];
    for (const l of this.list) if (l.asset.startsWith(prefix) && !out.includes(l.asset)) out.push(l.asset);
    return out.sort((a, b) => Number(a.split("_").pop()) - Number(b.split("_").pop()));
  }
}
function num(v) { return v === null || v === undefined ? NaN : v; }

// ---- picture: one view per twin kind --------------------------------------------------------------
class WindFarmView {
  constructor(svg, twin, L) {
    const s = twin.schematic;
    this.L = L; this.s = s; this.n = s.x.length; this.D = s.rotor_diameter;
    const pad = 3 * this.D;
    const x0 = Math.min(...s.x) - pad, x1 = Math.max(...s.x) + pad;
    const y0 = Math.min(...s.y) - pad, y1 = Math.max(...s.y) + pad;
    this.k = Math.min(W / (x1 - x0), H / (y1 - y0));
    this.ox = (W - this.k * (x1 - x0)) / 2 - this.k * x0;
    this.oy = (H - this.k * (y1 - y0)) / 2 + this.k * y1;
    el("rect", { x: 0, y: 0, width: W, height: H, fill: "#e7f0f7" }, svg);
    this.wakes = el("g", { class: "wakes" }, svg);
    this.wakeShapes = [];
    for (let j = 0; j < this.n; j++) {
      this.wakeShapes.push(el("polygon", { fill: "#3b6ea8", "fill-opacity": 0.16, points: "" }, this.wakes));
    }
    this.turbines = [];
    for (let j = 0; j < this.n; j++) {
      const [px, py] = this.px(s.x[j], s.y[j]);
      const g = el("g", { class: "turbine", "data-index": j }, svg);
      const body = el("g", { transform: `translate(${px},${py})` }, g);
      const rot = el("g", {}, body);
      const r = this.k * this.D / 2;
      el("rect", { x: -r * 0.12, y: 0, width: r * 0.24, height: r * 0.55, fill: "#4b5563", rx: 2 }, rot);
      const rotor = el("line", { x1: -r, y1: 0, x2: r, y2: 0, stroke: "#111", "stroke-width": 4, "stroke-linecap": "round" }, rot);
      el("circle", { cx: 0, cy: 0, r: 3, fill: "#111" }, rot);
      const text = el("text", { x: px, y: py + r + 14, "text-anchor": "middle", class: "label" }, g);
      const text2 = el("text", { x: px, y: py + r + 26, "text-anchor": "middle", class: "small" }, g);
      this.turbines.push({ rot, rotor, text, text2 });
    }
    this.arrow = el("g", { class: "wind-arrow" }, svg);
    el("line", { x1: 0, y1: 26, x2: 0, y2: -26, stroke: "#0b3d66", "stroke-width": 4 }, this.arrow);
    el("polygon", { points: "0,34 -10,16 10,16", fill: "#0b3d66" }, this.arrow);
    this.windText = el("text", { x: 70, y: 100, "text-anchor": "middle", class: "label" }, svg);
    this.title = el("text", { x: W / 2, y: 20, "text-anchor": "middle", class: "title" }, svg);
  }
  px(x, y) { return [this.ox + this.k * x, this.oy - this.k * y]; }
  update(f) {
    const L = this.L, rated = this.s.rated_power_mw || 5;
    const wd = L.value(f, "site", "wind_direction"), ws = L.value(f, "site", "wind_speed");
    let total = 0;
    for (let j = 0; j < this.n; j++) {
      const a = `turbine_${j}`;
      const vane = L.value(f, a, "wind_direction"), off = L.value(f, a, "yaw_offset");
      const p = L.value(f, a, "power");
      const heading = vane - off;               // yaw_offset = vane reading - nacelle heading
      const t = this.turbines[j];
      if (Number.isFinite(heading)) t.rot.setAttribute("transform", `rotate(${heading})`);
      t.rotor.setAttribute("stroke", loadColor(1 - (Number.isFinite(p) ? p / rated : 0)));
      t.text.textContent = `T${j}  ${fmt(p, 2)} MW`;
      t.text2.textContent = `yaw offset ${fmt(off, 1)}°`;
      if (Number.isFinite(p)) total += p;
      this.drawWake(j, wd, heading);
    }
    if (Number.isFinite(wd)) this.arrow.setAttribute("transform", `translate(70,58) rotate(${wd})`);
    this.windText.textContent = `wind ${fmt(ws, 1)} m/s from ${fmt(wd, 0)}°`;
    this.title.textContent = `farm power ${fmt(total, 1)} MW of ${fmt(rated * this.n, 0)} MW rated`;
    $("picture-caption").textContent = "Top view, north up. Bars: rotors turned to their nacelle heading " +
      "(bar colour: green at rated power, red at none). Blue: wake sketch downstream of each rotor, " +
      "widening 5 % of distance per side and deflected by the yaw misalignment (Bastankhah & " +
      "Porté-Agel 2016 initial skew, thrust coefficient 0.8); the arrow shows where the wind blows.";
  }
  drawWake(j, wd, heading) {
    if (!Number.isFinite(wd) || !Number.isFinite(heading)) return;
    const gamma = ((wd - heading + 540) % 360 - 180) * Math.PI / 180;        // misalignment, rad
    const down = (wd + 180) * Math.PI / 180;                                 // bearing the wind blows to
    const dx = Math.sin(down), dy = Math.cos(down);                           // east, north
    // the rotor's force on the flow points upstream along its axis, so the wake is pushed to the side
    // opposite the axis's downstream lean: to the right of the flow (looking downstream) when gamma > 0,
    // as in FLORIS (wind from 270 deg, positive yaw: wake towards -y)
    const lean = Math.sign(gamma) || 0;
    const lx = dy * lean, ly = -dx * lean;                                    // right of the flow when lean > 0
    const ct = 0.8, skew = 0.3 * Math.abs(gamma) / Math.cos(gamma) * (1 - Math.sqrt(Math.max(0, 1 - ct * Math.cos(gamma))));
    const D = this.D, len = 8 * D, pts = [];
    const x = this.s.x[j], y = this.s.y[j];
    const side = (u, sgn) => {
      const half = D / 2 + 0.05 * u, shift = Math.min(u, 4 * D) * skew;
      return this.px(x + dx * u + lx * (shift + sgn * half), y + dy * u + ly * (shift + sgn * half));
    };
    for (const u of [0, 2 * D, 4 * D, len]) pts.push(side(u, 1));
    for (const u of [len, 4 * D, 2 * D, 0]) pts.push(side(u, -1));
    this.wakeShapes[j].setAttribute("points", pts.map(p => `${p[0].toFixed(1)},${p[1].toFixed(1)}`).join(" "));
  }
}

class GridView {
  constructor(svg, twin, L) {
    const s = twin.schematic;
    this.L = L; this.s = s;
    const xs = s.bus_xy.map(p => p[0]), ys = s.bus_xy.map(p => p[1]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const m = 50;
    this.k = Math.min((W - 2 * m) / (x1 - x0 || 1), (H - 2 * m - 20) / (y1 - y0 || 1));
    this.ox = (W - this.k * (x1 - x0)) / 2 - this.k * x0;
    this.oy = (H + 20 - this.k * (y1 - y0)) / 2 + this.k * y1;
    const P = s.bus_xy.map(([x, y]) => [this.ox + this.k * x, this.oy - this.k * y]);
    this.P = P;
    el("rect", { x: 0, y: 0, width: W, height: H, fill: "#f4f6f9" }, svg);
    this.lines = s.lines.map(([a, b], i) => {
      const g = el("g", { class: "line", "data-index": i }, svg);
      const seg = el("line", { x1: P[a][0], y1: P[a][1], x2: P[b][0], y2: P[b][1], "stroke-linecap": "round" }, g);
      const mx = (P[a][0] + P[b][0]) / 2, my = (P[a][1] + P[b][1]) / 2;
      const cross = el("path", { d: `M${mx - 7},${my - 7}L${mx + 7},${my + 7}M${mx - 7},${my + 7}L${mx + 7},${my - 7}`,
        stroke: "#111", "stroke-width": 3, class: "hidden" }, g);
      const text = el("text", { x: mx, y: my - 5, "text-anchor": "middle", class: "small" }, g);
      return { seg, cross, text };
    });
    const mark = (buses, draw) => buses.forEach((b, i) => draw(P[b][0], P[b][1], i));
    mark(s.gen_bus, (x, y, i) => {
      el("rect", { x: x - 16, y: y - 22, width: 14, height: 14, fill: "#fff", stroke: "#1d232b", class: "gen" }, svg);
      el("text", { x: x - 9, y: y - 11, "text-anchor": "middle", class: "small" }, svg).textContent = `G${i}`;
    });
    mark(s.ren_bus, (x, y, i) => {
      el("circle", { cx: x + 12, cy: y - 14, r: 8, fill: "#fff", stroke: "#1f9d55", "stroke-width": 2 }, svg);
      el("text", { x: x + 12, y: y - 11, "text-anchor": "middle", class: "small" }, svg).textContent = s.ren_is_wind[i] ? "W" : "S";
    });
    mark(s.bat_bus, (x, y) => {
      el("rect", { x: x + 4, y: y + 6, width: 16, height: 9, fill: "#fff", stroke: "#6b46c1", "stroke-width": 2 }, svg);
    });
    P.forEach(([x, y], i) => {
      el("circle", { cx: x, cy: y, r: 5, fill: s.slack[i] ? "#1769aa" : "#4b5563", class: "bus" }, svg);
    });
    this.title = el("text", { x: W / 2, y: 20, "text-anchor": "middle", class: "title" }, svg);
  }
  update(f) {
    const L = this.L;
    let worst = 0, tripped = 0;
    this.lines.forEach((ln, i) => {
      const load = L.value(f, `line_${i}`, "loading"), on = L.value(f, `line_${i}`, "in_service");
      const up = !(Number.isFinite(on) && on < 0.5);
      if (up) {
        ln.seg.setAttribute("stroke", loadColor(load));
        ln.seg.setAttribute("stroke-width", 2 + 4 * clamp(Number.isFinite(load) ? load : 0, 0, 1.5));
        ln.seg.removeAttribute("stroke-dasharray");
        ln.cross.classList.add("hidden");
        ln.text.textContent = Number.isFinite(load) && load >= 0.5 ? `${Math.round(load * 100)} %` : "";
        if (Number.isFinite(load)) worst = Math.max(worst, load);
      } else {
        tripped += 1;
        ln.seg.setAttribute("stroke", "#111");
        ln.seg.setAttribute("stroke-width", 1.5);
        ln.seg.setAttribute("stroke-dasharray", "6 4");
        ln.cross.classList.remove("hidden");
        ln.text.textContent = "tripped";
      }
    });
    const load = L.value(f, "grid", "load");
    this.title.textContent = `${this.s.case}: load ${fmt(load, 1)} MW, most loaded line ${Math.round(worst * 100)} %, ${tripped} tripped`;
    $("picture-caption").textContent = "One-line diagram. Line colour and width: loading (green 0 %, " +
      "yellow 50 %, red ≥ 100 % of rating); dashed with a cross: tripped. Squares: generators; " +
      "green circles: wind (W) or solar (S); purple boxes: batteries; blue dot: slack bus.";
  }
}

class CellView {
  constructor(svg, twin, L) {
    const s = twin.schematic;
    this.L = L; this.s = s;
    const n = s.stations, gap = W / (n + 0.6), bw = 60, bh = 80, y = 170;
    el("rect", { x: 0, y: 0, width: W, height: H, fill: "#f4f6f9" }, svg);
    el("line", { x1: 20, y1: y + bh / 2, x2: W - 20, y2: y + bh / 2, stroke: "#9aa3ad", "stroke-width": 3 }, svg);
    this.stations = []; this.buffers = [];
    for (let i = 0; i < n; i++) {
      const cx = gap * (i + 0.8);
      const g = el("g", { class: "station", "data-index": i }, svg);
      const box = el("rect", { x: cx - bw / 2, y, width: bw, height: bh, rx: 6, stroke: "#1d232b", "stroke-width": 1.5 }, g);
      el("text", { x: cx, y: y - 8, "text-anchor": "middle", class: "label" }, g).textContent = `station ${i}`;
      el("rect", { x: cx - bw / 2, y: y + bh + 8, width: bw, height: 8, fill: "#e3e6ea" }, g);
      const wear = el("rect", { x: cx - bw / 2, y: y + bh + 8, width: 0, height: 8, fill: "#d98a00" }, g);
      const state = el("text", { x: cx, y: y + bh / 2 - 4, "text-anchor": "middle", class: "label" }, g);
      const speed = el("text", { x: cx, y: y + bh / 2 + 12, "text-anchor": "middle", class: "small" }, g);
      const wearText = el("text", { x: cx, y: y + bh + 30, "text-anchor": "middle", class: "small" }, g);
      this.stations.push({ box, wear, state, speed, wearText, bw });
      if (i < n - 1) {
        const cap = s.buffer_capacity[i], bx = cx + gap / 2, cell = 12;
        const gb = el("g", { class: "buffer", "data-index": i }, svg);
        const slots = [];
        for (let k = 0; k < cap; k++) {
          slots.push(el("rect", { x: bx - cell / 2, y: y + bh / 2 + 20 - (k + 1) * (cell + 2), width: cell, height: cell,
            fill: "#fff", stroke: "#7b8591" }, gb));
        }
        const text = el("text", { x: bx, y: y + bh / 2 + 36, "text-anchor": "middle", class: "small" }, gb);
        this.buffers.push({ slots, text, cap });
      }
    }
    this.title = el("text", { x: W / 2, y: 20, "text-anchor": "middle", class: "title" }, svg);
    this.info = el("text", { x: W / 2, y: H - 30, "text-anchor": "middle", class: "label" }, svg);
  }
  update(f) {
    const L = this.L;
    this.stations.forEach((st, i) => {
      const a = `station_${i}`;
      const up = L.value(f, a, "is_up"), failed = L.value(f, a, "is_failed"), maint = L.value(f, a, "in_maintenance");
      const wear = L.value(f, a, "wear_sensor"), speed = L.value(f, a, "speed_actual");
      const [fill, word] = failed > 0.5 ? ["#f3b4b2", "FAILED"] : maint > 0.5 ? ["#ffd89a", "maintenance"]
        : up > 0.5 ? ["#b9e4c9", "running"] : ["#d5d9de", "idle"];
      st.box.setAttribute("fill", fill);
      st.state.textContent = word;
      st.speed.textContent = `speed ${fmt(speed, 2)}`;
      st.wear.setAttribute("width", st.bw * clamp(Number.isFinite(wear) ? wear : 0, 0, 1));
      st.wearText.textContent = `wear ${fmt(wear, 2)}`;
    });
    this.buffers.forEach((b, i) => {
      const level = L.value(f, `buffer_${i}`, "level");
      b.slots.forEach((r, k) => r.setAttribute("fill", Number.isFinite(level) && k < Math.round(level) ? "#1769aa" : "#fff"));
      b.text.textContent = `${fmt(level, 0)}/${b.cap}`;
    });
    const stock = L.value(f, "cell", "finished_stock"), backlog = L.value(f, "cell", "backlog");
    const price = L.value(f, "cell", "price");
    this.title.textContent = `serial line, ${this.stations.length} stations`;
    this.info.textContent = `finished stock ${fmt(stock, 0)} parts · backlog ${fmt(backlog, 0)} parts · energy price ${fmt(price, 3)} EUR/kWh`;
    $("picture-caption").textContent = "Parts flow left to right. Box colour: running (green), failed (red), " +
      "in maintenance (orange), idle (grey); orange bar: wear sensor (0–1); blue squares: parts in each buffer.";
  }
}

class TurbineView {
  constructor(svg, twin, L) {
    this.L = L; this.s = twin.schematic; this.angle = 0; this.rpm = 0; this.t = performance.now();
    el("rect", { x: 0, y: 0, width: W, height: H, fill: "#e7f0f7" }, svg);
    const cx = 300, cy = 170;
    el("polygon", { points: `${cx - 8},${cy} ${cx + 8},${cy} ${cx + 14},${H - 30} ${cx - 14},${H - 30}`, fill: "#9aa3ad" }, svg);
    el("rect", { x: cx - 10, y: cy - 12, width: 60, height: 24, rx: 6, fill: "#4b5563" }, svg);
    this.rotor = el("g", { class: "turbine", "data-index": 0 }, svg);
    for (let b = 0; b < 3; b++) {
      el("path", { d: "M0,0 L-8,-20 L-4,-130 L4,-130 L8,-20 Z", fill: "#f8fafc", stroke: "#1d232b",
        transform: `rotate(${b * 120})` }, this.rotor);
    }
    el("circle", { cx: 0, cy: 0, r: 10, fill: "#1d232b" }, this.rotor);
    this.cx = cx - 14; this.cy = cy;
    this.texts = ["rotor speed", "pitch", "generator torque", "power"].map((_, i) =>
      el("text", { x: 520, y: 150 + 30 * i, class: "label" }, svg));
    this.bar = el("rect", { x: 520, y: 290, width: 0, height: 16, fill: "#1f9d55" }, svg);
    el("rect", { x: 520, y: 290, width: 220, height: 16, fill: "none", stroke: "#1d232b" }, svg);
    this.title = el("text", { x: W / 2, y: 20, "text-anchor": "middle", class: "title" }, svg);
    const spin = (now) => {
      const dt = (now - this.t) / 1000; this.t = now;
      if (Number.isFinite(this.rpm)) this.angle = (this.angle + this.rpm * 6 * dt) % 360;
      this.rotor.setAttribute("transform", `translate(${this.cx},${this.cy}) rotate(${this.angle})`);
      requestAnimationFrame(spin);
    };
    requestAnimationFrame(spin);
  }
  update(f) {
    const L = this.L, a = "turbine";
    this.rpm = L.value(f, a, "rotor_speed");
    const pitch = L.value(f, a, "pitch"), torque = L.value(f, a, "generator_torque"), p = L.value(f, a, "power");
    const rated = this.s.rated_power_mw || 5;
    [`rotor speed ${fmt(this.rpm, 2)} rpm (rated ${fmt(this.s.rated_rotor_speed_rpm, 1)})`,
      `blade pitch ${fmt(pitch, 2)}°`, `generator torque ${fmt(torque, 1)} kN m`,
      `power ${fmt(p, 2)} MW of ${fmt(rated, 1)} MW`].forEach((t, i) => { this.texts[i].textContent = t; });
    this.bar.setAttribute("width", 220 * clamp(Number.isFinite(p) ? p / rated : 0, 0, 1.2));
    this.title.textContent = "single turbine (NREL 5 MW class), ROSCO-style torque and pitch control";
    $("picture-caption").textContent = "Side view: the rotor turns at the measured rotor speed (real time). " +
      "Hub wind speed is not a measurement this twin publishes, so it has no strip here.";
  }
}

class GenericView {
  constructor(svg, twin, L) {
    this.L = L; this.n = Math.min(L.list.length, 24);
    el("rect", { x: 0, y: 0, width: W, height: H, fill: "#f4f6f9" }, svg);
    this.rows = L.list.slice(0, this.n).map((l, i) => el("text", { x: 20, y: 30 + 17 * i, class: "label" }, svg));
  }
  update(f) {
    this.rows.forEach((t, i) => { t.textContent = `${this.L.list[i].text}: ${fmt(num(f.m[i]), 3)}`; });
    $("picture-caption").textContent = "This twin publishes no schematic; its first measurements are listed.";
  }
}

const VIEWS = { wind_farm: WindFarmView, power_grid: GridView, assembly_cell: CellView, wind_turbine: TurbineView };

// ---- strip charts: main measurements per kind ----------------------------------------------------
function sumOf(L, prefix, name) {
  const idx = L.list.map((l, i) => (l.asset.startsWith(prefix) && l.name === name ? i : -1)).filter(i => i >= 0);
  return f => idx.reduce((s, i) => s + num(f.m[i]), 0);
}
function one(L, asset, name, scale) {
  const i = L.get(asset, name), k = scale || 1;
  return f => (i < 0 ? NaN : num(f.m[i]) * k);
}
const CHARTS = {
  wind_farm: L => [
    { title: "farm power", unit: "MW", series: [["farm power", sumOf(L, "turbine_", "power")]] },
    { title: "wind at the site", unit: "m/s", series: [["wind speed", one(L, "site", "wind_speed")]] },
    { title: "wind direction", unit: "deg", series: [["from", one(L, "site", "wind_direction")]] },
  ],
  power_grid: L => {
    const lines = L.assets("line_").map(a => L.get(a, "loading"));
    return [
      { title: "most loaded line", unit: "%", series: [["max loading", f => Math.max(...lines.map(i => num(f.m[i]))) * 100]] },
      { title: "load and slack", unit: "MW", series: [["load", one(L, "grid", "load")], ["slack", one(L, "grid", "slack_p")]] },
    ];
  },
  assembly_cell: L => [
    { title: "buffers", unit: "parts", series: L.assets("buffer_").map(a => [a.replace("_", " "), one(L, a, "level")]) },
    { title: "stock and backlog", unit: "parts", series: [["finished stock", one(L, "cell", "finished_stock")], ["backlog", one(L, "cell", "backlog")]] },
  ],
  wind_turbine: L => [
    { title: "rotor speed", unit: "rpm", series: [["rotor speed", one(L, "turbine", "rotor_speed")]] },
    { title: "blade pitch", unit: "deg", series: [["pitch", one(L, "turbine", "pitch")], ["pitch setpoint", one(L, "turbine", "pitch_setpoint")]] },
    { title: "power", unit: "MW", series: [["power", one(L, "turbine", "power")]] },
  ],
};
function genericCharts(L) {
  return [{ title: L.list[0] ? L.list[0].text : "measurement", unit: L.list[0] ? L.list[0].unit : "",
    series: [[L.list[0] ? L.list[0].name : "m0", f => num(f.m[0])]] }];
}

class Strip {
  constructor(parent, spec) {
    this.spec = spec;
    this.div = document.createElement("div");
    this.div.className = "chart";
    parent.appendChild(this.div);
    this.data = [[], ...spec.series.map(() => [])];
    const opts = {
      title: `${spec.title} [${spec.unit}]`, width: this.width(), height: 150,
      scales: { x: { time: false } }, legend: { live: true },
      series: [{ label: "sim time (min)", value: (u, v) => (v === null ? "–" : v.toFixed(1)) },
        ...spec.series.map(([label], i) => ({ label, stroke: (spec.colors || COLORS)[i % COLORS.length], width: 1.6,
          dash: spec.dashed && spec.dashed[i] ? [6, 4] : undefined, value: (u, v) => (v === null ? "–" : v.toFixed(3)) }))],
      axes: [{ size: 30 }, { size: 55 }],
    };
    this.plot = new uPlot(opts, this.data, this.div);
  }
  width() { return Math.max(300, this.div.parentElement.clientWidth - 14); }
  push(frame) {
    const t = (frame.sim_time || 0) / 60;
    this.data[0].push(t);
    this.spec.series.forEach(([, fn], i) => { const v = fn(frame); this.data[i + 1].push(Number.isFinite(v) ? v : null); });
    if (this.data[0].length > MAX_POINTS) this.data.forEach(a => a.shift());
  }
  draw() { this.plot.setData(this.data); }
  resize() { this.plot.setSize({ width: this.width(), height: 150 }); }
}

// ---- setup from the twin's description -------------------------------------------------------------
function setup(twin) {
  if (!twin) return;
  ui.twin = twin;
  ui.labels = new Labels(twin.observation_labels);
  ui.actions = twin.action_labels.map(parseLabel);
  $("twin-name").textContent = `${twin.twin_id} · scenario ${twin.scenario} · dt ${twin.dt} s · ×${twin.speed}`;
  $("baseline-name").textContent = twin.baseline_name ? `baseline (${twin.baseline_name})` : "baseline";
  const svg = $("picture");
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const kind = (twin.schematic || {}).kind;
  $("picture-title").textContent = `the twin: ${twin.twin_id}`;
  ui.view = new (VIEWS[kind] || GenericView)(svg, twin, ui.labels);
  const charts = $("charts");
  charts.replaceChildren();
  ui.charts.forEach(c => c.plot.destroy());
  const specs = (CHARTS[kind] || genericCharts)(ui.labels);
  specs.push({ title: "reward and cost per step", unit: "reward, cost", series: [["reward", f => num(f.reward)], ["cost", f => num(f.cost)]] });
  specs.push(setpointSpec());
  ui.charts = specs.map(spec => new Strip(charts, spec));
  buildSetpointTable();
  ui.lastStep = -1;
}

function setpointSpec() {
  const i = ui.selected, a = ui.actions[i] || { text: "setpoint", unit: "" };
  return { title: `setpoint ${a.asset}/${a.name} vs baseline`, unit: a.unit, setpoint: true,
    series: [["applied", f => num(f.a[i])], ["baseline suggestion", f => num(f.b[i])]], dashed: [false, true],
    colors: ["#1769aa", "#6b46c1"] };
}

function buildSetpointTable() {
  const body = $("setpoints").querySelector("tbody");
  body.replaceChildren();
  ui.rows = ui.actions.map((a, i) => {
    const tr = document.createElement("tr");
    tr.innerHTML = "<td></td><td></td><td></td><td></td>";
    tr.children[0].textContent = `${a.asset}/${a.name} [${a.unit}]`;
    tr.addEventListener("click", () => selectSetpoint(i));
    body.appendChild(tr);
    return tr;
  });
  if (ui.rows[ui.selected]) ui.rows[ui.selected].classList.add("selected");
}

function selectSetpoint(i) {
  ui.selected = i;
  ui.rows.forEach((r, k) => r.classList.toggle("selected", k === i));
  const idx = ui.charts.findIndex(c => c.spec.setpoint);
  const old = ui.charts[idx];
  const fresh = new Strip($("charts"), setpointSpec());
  old.div.replaceWith(fresh.div);
  old.plot.destroy();
  ui.charts[idx] = fresh;
}

// ---- frames and events -----------------------------------------------------------------------------
function onFrame(f, replay) {
  ui.frame = f;
  if (!replay) {
    const now = performance.now();
    ui.received.push(now);
    while (ui.received.length && now - ui.received[0] > 2000) ui.received.shift();
  }
  if (!ui.twin || !f.consistent) return;
  const fresh = f.step !== ui.lastStep;
  if (fresh) {
    ui.lastStep = f.step;
    ui.charts.forEach(c => c.push(f));
  }
  if (replay) return;
  $("step").textContent = f.step;
  $("sim-time").textContent = fmtTime(f.sim_time);
  $("episode").textContent = `${f.episode} (step ${f.episode_step})`;
  const mode = $("mode");
  mode.textContent = f.mode === "local" ? "local control (baseline)" : "remote control (client)";
  mode.className = `badge ${f.mode}`;
  const faults = $("faults");
  faults.classList.toggle("hidden", !f.faults);
  faults.textContent = f.faults ? `fault: ${f.faults}` : "";
  ui.view.update(f);
  updateSetpointTable(f);
  if (fresh) ui.charts.forEach(c => c.draw());
}

function updateSetpointTable(f) {
  ui.rows.forEach((tr, i) => {
    const a = num(f.a[i]), b = num(f.b[i]);
    tr.children[1].textContent = fmt(a, 2);
    tr.children[2].textContent = fmt(b, 2);
    tr.children[3].textContent = fmt(a - b, 2);
    const lo = num(ui.twin.action_low[i]), hi = num(ui.twin.action_high[i]);
    const big = Number.isFinite(a - b) && Number.isFinite(hi - lo) && Math.abs(a - b) > 0.25 * (hi - lo);
    tr.children[3].classList.toggle("big", big);
  });
}

function addEvent(e) {
  const li = document.createElement("li");
  li.className = e.kind;
  const when = new Date(e.time * 1000).toLocaleTimeString();
  li.innerHTML = '<span class="when"></span><span class="kind"></span> <span class="text"></span>';
  li.children[0].textContent = e.step === null || e.step === undefined ? when : `${when} · step ${e.step}`;
  li.children[1].textContent = e.kind;
  li.children[2].textContent = e.text;
  const list = $("events");
  list.insertBefore(li, list.firstChild);
  while (list.children.length > 200) list.removeChild(list.lastChild);
}

function setLink(on, text) {
  const link = $("link");
  link.className = `badge ${on ? "on" : "off"}`;
  link.textContent = text;
}

function handle(msg) {
  switch (msg.type) {
    case "hello":
      setup(msg.twin);
      setLink(msg.connected, msg.connected ? "live" : "twin unreachable");
      $("operator").classList.toggle("hidden", !msg.operator);
      (msg.events || []).forEach(addEvent);
      break;
    case "history":
      msg.frames.forEach(f => onFrame(f, true));
      ui.charts.forEach(c => c.draw());
      break;
    case "twin":
      setup(msg.twin);
      setLink(true, "live");
      break;
    case "frame":
      setLink(true, "live");
      onFrame(msg, false);
      break;
    case "event":
      addEvent(msg);
      if (msg.kind === "link") setLink(msg.connected, msg.connected ? "live" : "twin unreachable");
      break;
    default:
      break;
  }
}

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onmessage = ev => handle(JSON.parse(ev.data));
  ws.onclose = () => { setLink(false, "dashboard offline"); setTimeout(connect, 1000); };
}

function operatorButtons() {
  document.querySelectorAll("#operator button").forEach(b => b.addEventListener("click", async () => {
    const r = await fetch("/api/control", { method: "POST", headers: { "Content-Type": "application/json", "X-Twingym-Operator": "1" },
      body: JSON.stringify({ mode: b.dataset.mode }) });
    if (!r.ok) addEvent({ time: Date.now() / 1000, step: null, kind: "operator", text: `refused: ${(await r.json()).error}` });
  }));
}

setInterval(() => { $("rate").textContent = (ui.received.length / 2).toFixed(1); }, 500);
window.addEventListener("resize", () => ui.charts.forEach(c => c.resize()));
operatorButtons();
connect();

// The script of onnxkit's graph view (see onnxkit/view/_build.py for the data).
// Every group comes laid out from Python with its members closed; opening a
// member grows its box to its own layout and pushes the boxes right of it
// right, left of it left and below it down, so opening costs only drawing.
"use strict";

const PAD = 12, HEAD = 24, AUTO_OPEN = 60;

function esc(s) {
  return String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})[c]);
}
function short(s, n) { s = String(s); return s.length <= n ? s : s.slice(0, n - 1) + "\u2026"; }
function fmt(x) {
  if (x === undefined || x === null) return "";
  if (typeof x !== "number") return String(x);
  if (x === 0 || (Math.abs(x) >= 1e-3 && Math.abs(x) < 1e6)) return String(+x.toPrecision(4));
  return x.toExponential(3);
}
function bytes(b) {
  const u = ["B", "KB", "MB", "GB"]; let i = 0;
  while (b >= 1024 && i < 3) { b /= 1024; i++; }
  return (i ? b.toFixed(1) : b) + " " + u[i];
}
const HUES = {Conv: 210, ConvTranspose: 210, Gemm: 210, MatMul: 210, Attention: 260,
  Relu: 0, Gelu: 0, Sigmoid: 0, Tanh: 0, Softmax: 0, Erf: 0, Clip: 0, HardSwish: 0,
  BatchNormalization: 120, LayerNormalization: 120, InstanceNormalization: 120,
  Reshape: 35, Transpose: 35, Concat: 35, Split: 35, Slice: 35, Gather: 35, Squeeze: 35,
  Unsqueeze: 35, Shape: 35, Flatten: 35, Expand: 35, Cast: 35,
  Add: 180, Mul: 180, Sub: 180, Div: 180, Pow: 180, Sqrt: 180,
  MaxPool: 300, AveragePool: 300, GlobalAveragePool: 300, ReduceMean: 300};
function nodeFill(o) {
  const h = HUES[o];
  return h === undefined ? "#eceff3" : `hsl(${h},55%,90%)`;
}

class Viewer {
  // data: the JSON of _build.PageData; root: the element to draw into
  constructor(data, root, opts) {
    this.D = data; this.G = data.groups; this.N = data.nodes;
    this.root = root; this.opts = opts || {};
    this.open = new Set([""]); this.scale = 1; this.sel = null; this.hits = []; this.hit = -1;
    root.innerHTML = `<div class="bar"><input class="q" placeholder="search name, op type or value"
      ><button class="prev" title="previous match">&#8593;</button><button class="next" title="next match">&#8595;</button
      ><span class="count"></span><button class="zin" title="zoom in">+</button><button class="zout" title="zoom out">&minus;</button
      ><button class="fit" title="fit to window">fit</button><button class="closeall" title="close every group">close all</button
      ><span class="info"></span></div><div class="main"><div class="canvas"></div><div class="details"></div></div>`;
    this.canvas = root.querySelector(".canvas"); this.details = root.querySelector(".details");
    this.q = root.querySelector(".q"); this.countEl = root.querySelector(".count");
    this.canvas.addEventListener("click", e => this.onClick(e));
    this.q.addEventListener("keydown", e => { if (e.key === "Enter") this.search(this.q.value, e.shiftKey ? -1 : 1); });
    root.querySelector(".next").onclick = () => this.search(this.q.value, 1);
    root.querySelector(".prev").onclick = () => this.search(this.q.value, -1);
    root.querySelector(".zin").onclick = () => this.zoom(1.25);
    root.querySelector(".zout").onclick = () => this.zoom(0.8);
    root.querySelector(".fit").onclick = () => this.fit();
    root.querySelector(".closeall").onclick = () => { this.open = new Set([""]); this.render(); };
    const m = data.model || {};
    root.querySelector(".info").textContent = `${m.nodes || 0} nodes \u00b7 opset ${JSON.stringify(m.opsets || {})}`
      + (m.producer ? " \u00b7 " + m.producer : "");
    if (data.compare) root.querySelector(".info").textContent = `${data.compare.compared} nodes compared with onnxruntime, `
      + `${data.compare.skipped} not compared \u00b7 ` + (data.compare.first ? "first divergence: " + data.compare.first : "all agree");
    this.where = this.index();
    this.groupSums();
    this.autoOpen();
    this.render();
    if (this.firstPath) {      // a comparison: open the way to the first divergence and show it
      this.reveal(this.firstPath);
      this.show(this.itemAt(this.firstPath));
    }
  }

  member(gi, i) { const r = this.G[gi].it[i]; return r >= 0 ? {n: r} : {g: -1 - r}; }

  // the first place (member path "" / "3" / "3.1") of every node in the tree
  index() {
    const where = new Map();
    const walk = (gi, path) => {
      const g = this.G[gi];
      if (g.nd !== undefined && !where.has(g.nd)) where.set(g.nd, path);
      g.it.forEach((r, i) => {
        const p = path === "" ? String(i) : path + "." + i;
        if (r >= 0) { if (!where.has(r)) where.set(r, p); }
        else walk(-1 - r, p);
      });
    };
    walk(this.D.root, "");
    return where;
  }

  // profile: each group's share of time (the sum of its members'); compare: where the first divergence is
  groupSums() {
    const memo = new Map();
    const sum = gi => {
      if (memo.has(gi)) return memo.get(gi);
      memo.set(gi, 0);
      const g = this.G[gi];
      let s = g.nd !== undefined ? (this.N[g.nd].ts || 0) : 0;
      if (g.nd === undefined) for (const r of g.it) s += r >= 0 ? (this.N[r].ts || 0) : sum(-1 - r);
      memo.set(gi, s); return s;
    };
    this.gshare = gi => sum(gi);
    const dmemo = new Map();      // diff: does a group hold something that differs?
    const differs = gi => {
      if (dmemo.has(gi)) return dmemo.get(gi);
      dmemo.set(gi, false);
      const g = this.G[gi];
      const dif = n => !!n.df && n.df !== "same" && n.df !== "rewired";
      let r = g.nd !== undefined && dif(this.N[g.nd]);
      for (const m of g.it) r = r || (m >= 0 ? dif(this.N[m]) : differs(-1 - m));
      dmemo.set(gi, r); return r;
    };
    this.gdiffers = differs;
    this.firstPath = null;
    this.N.forEach((n, k) => { if (n.st === "first" && this.where.has(k)) this.firstPath = this.where.get(k); });
  }

  autoOpen() {
    // open groups breadth first while the drawing stays small
    let visible = this.G[this.D.root].it.length;
    let queue = [[this.D.root, ""]];
    while (queue.length) {
      const next = [];
      for (const [gi, path] of queue) {
        this.G[gi].it.forEach((r, i) => {
          if (r >= 0) return;
          const sub = this.G[-1 - r], p = path === "" ? String(i) : path + "." + i;
          if (sub.k === "node") return;             // subgraphs and functions stay closed
          if (visible + sub.it.length - 1 <= AUTO_OPEN) {
            visible += sub.it.length - 1; this.open.add(p); next.push([-1 - r, p]);
          }
        });
      }
      queue = next;
    }
  }

  // the members of group gi (at path) that are open, each composed and grown:
  // [{i, cx, cy, dw, dh, W, H, sub}]; tp: the path of the twin group on the other side of a diff
  grows(gi, path, tp) {
    const g = this.G[gi], xy = g.L.xy, out = [];
    g.it.forEach((r, i) => {
      const p = path === "" ? String(i) : path + "." + i;
      if (r >= 0 || !this.open.has(p)) return;
      const sub = this.compose(-1 - r, p, this.childTwin(gi, i, tp));
      const w = xy[4 * i + 2], h = xy[4 * i + 3], W = Math.max(sub.w + 2 * PAD, w), H = sub.h + HEAD + PAD;
      out.push({i, cx: xy[4 * i], cy: xy[4 * i + 1], dw: W - w, dh: H - h, W, H, sub});
    });
    return out;
  }

  // the path of member i's twin, in the twin viewer, when group gi (at twin path tp) has a twin
  childTwin(gi, i, tp) {
    const g = this.G[gi];
    if (tp === null || tp === undefined || !this.twin || !g.tm || g.tm[i] < 0) return null;
    const r = g.it[i], t = this.twin.G[g.tw].it[g.tm[i]];
    if (r >= 0 || t >= 0 || this.G[-1 - r].tw !== -1 - t) return null;
    return tp === "" ? String(g.tm[i]) : tp + "." + g.tm[i];
  }

  // the path on the other side of a diff of the member at path (null: no twin)
  twinOf(path) {
    let gi = this.D.root, tp = "";
    const parts = path.split(".");
    for (let d = 0; d < parts.length; d++) {
      const g = this.G[gi], i = +parts[d];
      if (!g.tm || g.tm[i] === undefined || g.tm[i] < 0) return null;
      tp = tp === "" ? String(g.tm[i]) : tp + "." + g.tm[i];
      const r = g.it[i];
      if (r >= 0) return d === parts.length - 1 ? tp : null;
      gi = -1 - r;
    }
    return tp;
  }

  // the placed boxes of group gi opened at path: {w, h, items, edges}.  In a diff, a
  // group with a twin (tp: its path there) shares the twin's coordinates: both were laid
  // out together, and each open member grows to the larger of it and its twin, so that
  // matched members stay side by side however the two are opened
  compose(gi, path, tp) {
    const key = path + "|" + gi;
    if (this.memo && this.memo.has(key)) return this.memo.get(key);
    const c = this.composeNow(gi, path, tp);
    if (this.memo) this.memo.set(key, c);
    return c;
  }

  composeNow(gi, path, tp) {
    const g = this.G[gi], L = g.L, xy = L.xy, n = g.it.length;
    const paired = tp !== null && tp !== undefined && this.twin && g.tm !== undefined;
    const grow = this.grows(gi, path, tp);
    if (paired) {
      const back = this.twin.G[g.tw].tm;
      for (const t of this.twin.grows(g.tw, tp, path)) {
        const i = back[t.i] === undefined || back[t.i] < 0 ? -2 : back[t.i];
        const e = i >= 0 ? grow.find(x => x.i === i) : undefined;
        if (e) { e.W = Math.max(e.W, t.W); e.H = Math.max(e.H, t.H); e.dw = Math.max(e.dw, t.dw); e.dh = Math.max(e.dh, t.dh); }
        else grow.push({i, cx: t.cx, cy: t.cy, dw: t.dw, dh: t.dh, W: t.W, H: t.H, ghost: 1});
      }
    }
    const items = [];
    for (let i = 0; i < n; i++) {
      const p = path === "" ? String(i) : path + "." + i;
      const it = {m: this.member(gi, i), path: p, x: xy[4 * i], y: xy[4 * i + 1], w: xy[4 * i + 2], h: xy[4 * i + 3]};
      const e = grow.find(x => x.i === i && !x.ghost);
      if (e) {
        it.sub = e.sub;
        it.y += (e.H - it.h) / 2; it.w = e.W; it.h = e.H;
      }
      items.push(it);
    }
    const shift = (x, y, self) => {
      let sx = 0, sy = 0;
      for (const e of grow) {
        if (e.i === self) continue;
        if (x > e.cx + 0.5) sx += e.dw / 2; else if (x < e.cx - 0.5) sx -= e.dw / 2;
        if (y > e.cy + 0.5) sy += e.dh;
      }
      return [x + sx, y + sy];
    };
    if (grow.length) for (let i = 0; i < n; i++) {
      const it = items[i], [x, y] = shift(it.x, xy[4 * i + 1], i);
      it.x = x; it.y = y + (it.y - xy[4 * i + 1]);
    }
    const edges = L.e.map(e => {
      const pts = [];
      for (let k = 0; k < e[3].length; k += 2) {
        let x = e[3][k], y = e[3][k + 1];
        if (grow.length) {
          const last = k === e[3].length - 2, first = k === 0;
          [x, y] = shift(x, y, first ? e[0] : last ? e[1] : -1);
          // the ends follow their (maybe grown) boxes
          if (first) { const a = items[e[0]]; x = a.x; y = a.y + a.h / 2; }
          if (last) { const b = items[e[1]]; x = b.x; y = b.y - b.h / 2; }
        }
        pts.push(x, y);
      }
      // an end at an open group goes on to the node inside that makes or reads the value
      let deep = false;
      const from = this.inside(items[e[0]], e[5], false), to = this.inside(items[e[1]], e[6], true);
      if (from) { pts[0] = from[0]; pts[1] = from[1]; deep = true; }
      if (to) { pts[pts.length - 2] = to[0]; pts[pts.length - 1] = to[1]; deep = true; }
      return {a: e[0], b: e[1], label: e[2], names: e[4], pts, deep};
    });
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    if (paired) {     // the frame both twins share (so that their contents line up), not this side's boxes
      const [ax, ay] = shift(-6, 0, -3), [bx, by] = shift(L.w + 6, L.h, -3);
      x0 = ax; y0 = ay; x1 = bx; y1 = by;
    }
    else for (const it of items) {
      x0 = Math.min(x0, it.x - it.w / 2); x1 = Math.max(x1, it.x + it.w / 2);
      y0 = Math.min(y0, it.y - it.h / 2); y1 = Math.max(y1, it.y + it.h / 2);
    }
    if (!paired) for (const e of edges) for (let k = 0; k < e.pts.length; k += 2) {
      x0 = Math.min(x0, e.pts[k] - 6); x1 = Math.max(x1, e.pts[k] + 6);
    }
    if (!items.length) { x0 = y0 = 0; x1 = y1 = 10; }
    for (const it of items) { it.x -= x0; it.y -= y0; }
    for (const e of edges) for (let k = 0; k < e.pts.length; k += 2) { e.pts[k] -= x0; e.pts[k + 1] -= y0; }
    return {w: x1 - x0, h: y1 - y0, items, edges};
  }

  // where an edge meets the deepest drawn box on the member path `below` inside the
  // open item `it` (top: the box's top, else its bottom), in it's group's coordinates
  inside(it, below, top) {
    if (!it.sub || !below || !below.length) return null;
    let c = it.sub, hit = null;
    let ox = it.x - it.w / 2 + PAD + (it.w - 2 * PAD - c.w) / 2, oy = it.y - it.h / 2 + HEAD;
    for (const i of below) {
      const t = c.items[i];
      if (!t) break;
      hit = [ox + t.x, oy + t.y + (top ? -t.h / 2 : t.h / 2)];
      if (!t.sub) break;
      ox += t.x - t.w / 2 + PAD + (t.w - 2 * PAD - t.sub.w) / 2; oy += t.y - t.h / 2 + HEAD; c = t.sub;
    }
    return hit;
  }

  nodeClass(n) {
    let c = "node";
    if (n.io) c += " io";
    if (n.st) c += " st-" + n.st;
    if (n.df) c += " df-" + n.df;
    return c;
  }

  heat(share) {   // white to red by share of time
    const l = 96 - Math.min(1, Math.sqrt(share || 0) * 1.6) * 46;
    return `hsl(8,85%,${l}%)`;
  }

  drawGroup(c, ox, oy, out) {
    // labels: midway on a lone edge; near the target when the source feeds several;
    // where several edges meet a target, at staggered heights so that they do not overlap
    const from = new Map(), into = new Map();
    for (const e of c.edges) {
      if (!from.has(e.a)) from.set(e.a, []);
      if (!into.has(e.b)) into.set(e.b, []);
      from.get(e.a).push(e); into.get(e.b).push(e);
    }
    const byX = (p, q) => p.pts[p.pts.length - 4] - q.pts[q.pts.length - 4];
    for (const es of into.values()) es.sort(byX);
    for (const es of from.values()) es.sort(byX);
    const drawEdge = e => {
      if (e.pts.length < 4) return;
      let d = "";
      for (let k = 0; k < e.pts.length; k += 2) d += (k ? "L" : "M") + (ox + e.pts[k]).toFixed(1) + " " + (oy + e.pts[k + 1]).toFixed(1);
      out.push(`<path class="edge" d="${d}" marker-end="url(#ar)"><title>${esc((e.names || []).join("\n"))}</title></path>`);
      const n = e.pts.length, fan = from.get(e.a), meet = into.get(e.b);
      let k, f;
      if (meet.length > 1) { k = n - 4; f = 0.12 + 0.6 * meet.indexOf(e) / (meet.length - 1); }
      else if (fan.length > 1) { k = n - 4; f = 0.25 + 0.5 * fan.indexOf(e) / (fan.length - 1); }
      else { k = Math.max(0, Math.floor(n / 4) * 2 - 2); f = n > 4 ? 1 : 0.5; }
      const lx = ox + e.pts[k] + f * (e.pts[k + 2] - e.pts[k]), ly = oy + e.pts[k + 1] + f * (e.pts[k + 3] - e.pts[k + 1]);
      out.push(`<text class="elabel" x="${(lx + 4).toFixed(1)}" y="${(ly + 3).toFixed(1)}">${esc(short(e.label, 40))}</text>`);
    };
    // edges that end inside an open group are drawn over it, the others under the boxes
    for (const e of c.edges) if (!e.deep) drawEdge(e);
    for (const it of c.items) {
      const x = ox + it.x - it.w / 2, y = oy + it.y - it.h / 2;
      const sel = this.sel === it.path ? " sel" : "";
      if (it.m.n !== undefined) {
        const n = this.N[it.m.n];
        const fill = this.D.profile ? this.heat(n.ts) : n.io ? "#fff" : nodeFill(n.o);
        const sub = n.io ? n.out[0][1] : n.t !== undefined ? `${fmt(n.t * 1e3)} ms \u00b7 ${bytes(n.b || 0)}`
          : n.err !== undefined ? `err ${fmt(n.err)}` : n.n.split("/").pop() === n.o ? "" : short(n.n.split("/").pop(), 28);
        out.push(`<g class="${this.nodeClass(n)}${sel}" data-k="${it.path}"><rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${it.w}" height="${it.h}" rx="${n.io ? 14 : 4}" fill="${fill}"/>`
          + `<text class="op" x="${(x + it.w / 2).toFixed(1)}" y="${(y + 15).toFixed(1)}">${esc(n.io ? short(n.n, 28) : n.o)}</text>`
          + `<text class="nm" x="${(x + it.w / 2).toFixed(1)}" y="${(y + 29).toFixed(1)}">${esc(sub)}</text></g>`);
        continue;
      }
      const g = this.G[it.m.g];
      const nd = g.nd !== undefined ? this.N[g.nd] : null;
      const cls = "group k-" + g.k + (it.sub ? " open" : "") + sel + (nd ? " " + this.nodeClass(nd) : "")
        + (this.firstPath && (this.firstPath + ".").startsWith(it.path + ".") ? " hasfirst" : "")
        + (this.D.diffside && !it.sub && this.gdiffers(it.m.g) ? " dfhas" : "");
      const fill = this.D.profile ? this.heat(this.gshare(it.m.g)) : nd ? nodeFill(nd.o) : "#f6f8fb";
      if (it.sub) {
        out.push(`<g class="${cls}" data-k="${it.path}"><rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${it.w}" height="${it.h}" rx="6" fill="#fbfcfe"/>`
          + `<text class="ghead" x="${(x + 8).toFixed(1)}" y="${(y + 16).toFixed(1)}">\u25be ${esc(short(g.l, 60))}${nd ? " " + esc(short(nd.n, 40)) : ""} (${g.c})</text></g>`);
        this.drawGroup(it.sub, x + PAD + (it.w - 2 * PAD - it.sub.w) / 2, y + HEAD, out);
      } else {
        const line2 = nd ? short(nd.n.split("/").pop(), 28) + " \u25b8" : `\u25b8 ${g.c} nodes`;
        out.push(`<g class="${cls}" data-k="${it.path}"><rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${it.w}" height="${it.h}" rx="6" fill="${fill}"/>`
          + `<text class="op" x="${(x + it.w / 2).toFixed(1)}" y="${(y + 17).toFixed(1)}">${esc(short(g.l, 34))}</text>`
          + `<text class="nm" x="${(x + it.w / 2).toFixed(1)}" y="${(y + 32).toFixed(1)}">${esc(line2)}</text></g>`);
      }
    }
    for (const e of c.edges) if (e.deep) drawEdge(e);
  }

  render() {
    this.memo = new Map();
    if (this.twin) this.twin.memo = new Map();      // its sizes depend on what is open here
    const c = this.compose(this.D.root, "", this.twin ? "" : null);
    this.laid = c;
    const out = [];
    this.drawGroup(c, 20, 20, out);
    const w = c.w + 40, h = c.h + 40;
    this.size = [w, h];
    this.canvas.innerHTML = `<svg width="${w * this.scale}" height="${h * this.scale}" viewBox="0 0 ${w} ${h}">`
      + `<defs><marker id="ar" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0L8 4L0 8z" fill="#8a94a6"/></marker></defs>`
      + out.join("") + "</svg>";
    if (this.opts.onRender) this.opts.onRender(this);
  }

  zoom(f) {
    const cx = (this.canvas.scrollLeft + this.canvas.clientWidth / 2) / this.scale,
      cy = (this.canvas.scrollTop + this.canvas.clientHeight / 2) / this.scale;
    this.scale = Math.max(0.05, Math.min(4, this.scale * f));
    const svg = this.canvas.querySelector("svg");
    svg.setAttribute("width", this.size[0] * this.scale); svg.setAttribute("height", this.size[1] * this.scale);
    this.canvas.scrollLeft = cx * this.scale - this.canvas.clientWidth / 2;
    this.canvas.scrollTop = cy * this.scale - this.canvas.clientHeight / 2;
  }

  fit() {
    const s = Math.min(this.canvas.clientWidth / this.size[0], this.canvas.clientHeight / this.size[1]);
    this.zoom(Math.min(1, s) / this.scale);
  }

  // the box drawn for a path, in page coordinates of the drawing
  locate(path) {
    let c = this.laid, ox = 20, oy = 20;
    const parts = path.split(".");
    for (let d = 0; d < parts.length; d++) {
      const it = c.items[+parts[d]];
      if (!it) return null;
      const x = ox + it.x - it.w / 2, y = oy + it.y - it.h / 2;
      if (d === parts.length - 1) return {x, y, w: it.w, h: it.h};
      if (!it.sub) return {x, y, w: it.w, h: it.h};
      ox = x + PAD + (it.w - 2 * PAD - it.sub.w) / 2; oy = y + HEAD; c = it.sub;
    }
    return null;
  }

  reveal(path) {
    const parts = path.split(".");
    for (let d = 1; d < parts.length; d++) this.open.add(parts.slice(0, d).join("."));
    this.sel = path;
    this.render();
    const b = this.locate(path);
    if (b) {
      this.canvas.scrollLeft = (b.x + b.w / 2) * this.scale - this.canvas.clientWidth / 2;
      this.canvas.scrollTop = (b.y + b.h / 2) * this.scale - this.canvas.clientHeight / 2;
    }
  }

  itemAt(path) {
    let gi = this.D.root, m = null;
    for (const p of path.split(".")) { m = this.member(gi, +p); if (m.g !== undefined) gi = m.g; }
    return m;
  }

  onClick(e) {
    const el = e.target.closest("[data-k]");
    if (!el) return;
    const path = el.getAttribute("data-k"), m = this.itemAt(path);
    if (m.g !== undefined) {
      const wasOpen = this.open.has(path);
      if (wasOpen) this.open.delete(path); else this.open.add(path);
      this.sel = path;
      this.render();
      this.show(m);
      if (this.opts.onToggle) this.opts.onToggle(this, path, m, !wasOpen);
    } else {
      this.sel = path;
      for (const g of this.canvas.querySelectorAll(".sel")) g.classList.remove("sel");
      el.classList.add("sel");
      this.show(m);
    }
    if (this.opts.onSelect) this.opts.onSelect(this, path, m);
  }

  search(q, dir) {
    q = q.trim().toLowerCase();
    if (!q) return;
    if (q !== this.lastQ) {
      this.lastQ = q; this.hit = -1; this.hits = [];
      // op type first, then node names, then the nodes that make or read a value of that name
      const rank = [[], [], []];
      this.N.forEach((n, k) => {
        if (!this.where.has(k)) return;
        if (n.o.toLowerCase() === q) rank[0].push(k);
        else if (n.n.toLowerCase().includes(q)) rank[1].push(k);
        else if (n.out.some(v => v[0].toLowerCase().includes(q)) || n.i.some(v => v[0].toLowerCase().includes(q)))
          rank[2].push(k);
      });
      this.hits = rank.flat();
    }
    if (!this.hits.length) { this.countEl.textContent = "no match"; return; }
    this.hit = (this.hit + dir + this.hits.length) % this.hits.length;
    this.countEl.textContent = `${this.hit + 1} of ${this.hits.length}`;
    this.select(this.hits[this.hit]);
  }

  select(k) {   // jump to node k
    const path = this.where.get(k);
    if (path === undefined) return false;
    this.reveal(path);
    this.show({n: k});
    return true;
  }

  show(m) {
    const h = [];
    const row = (k, v) => h.push(`<tr><th>${esc(k)}</th><td>${v}</td></tr>`);
    if (m.g !== undefined && this.G[m.g].nd === undefined) {
      const g = this.G[m.g];
      h.push(`<h3>${esc(g.l)}</h3><table>`);
      row("kind", esc(g.k)); row("nodes", g.c);
      if (this.D.profile) row("share of time", fmt(100 * this.gshare(m.g)) + " %");
      h.push("</table>");
      this.details.innerHTML = h.join("");
      return;
    }
    const k = m.n !== undefined ? m.n : this.G[m.g].nd, n = this.N[k];
    h.push(`<h3>${esc(n.o)}${n.d ? " <small>" + esc(n.d) + "</small>" : ""}</h3><div class="name">${esc(n.n)}</div>`);
    if (n.sch) h.push(`<div class="schema">${esc(n.sch)}</div>`);
    if (n.s) h.push(`<div class="source"><b>source</b> ${esc(n.s)}</div>`);
    h.push("<table>");
    if (n.t !== undefined) { row("time", `${fmt(n.t * 1e3)} ms (${fmt(100 * (n.ts || 0))} %)`); row("output bytes", bytes(n.b || 0)); }
    if (n.err !== undefined) row("max abs error", fmt(n.err) + (n.rel !== undefined ? ` (rel ${fmt(n.rel)})` : ""));
    if (n.st) row("comparison", esc(n.st) + (n.why ? ": " + esc(n.why) : ""));
    if (n.df) row("diff", esc(n.df) + (n.dfw ? ": " + esc(n.dfw) : ""));
    h.push("</table>");
    if (n.a) {
      h.push('<h4>attributes</h4><table class="attrs">');
      for (const [a, v] of Object.entries(n.a)) row(a, esc(v));
      h.push("</table>");
    }
    const val = v => {
      if (!v[0]) return "<i>(none)</i>";
      let s = `<code>${esc(v[0])}</code> <span class="ty">${esc(v[1])}</span>`;
      if (v[2]) {
        const w = v[3] || {};
        s += `<div class="w">${v[2] === "init" ? "weight" : "constant"} ${esc(w.dtype || "")}[${(w.shape || []).join(",")}]`
          + (w.count !== undefined ? `, ${w.count.toLocaleString()} values` : "")
          + (w.min !== undefined ? `<br>min ${fmt(w.min)} max ${fmt(w.max)} mean ${fmt(w.mean)}, zeros ${fmt(100 * w.zeros)} %` + (w.sampled ? " (sampled)" : "") : "")
          + (w.value !== undefined ? `<br>= ${esc(short(JSON.stringify(w.value), 200))}` : "")
          + (w.via ? `<br>(Identity of <code>${esc(w.via)}</code>)` : "") + "</div>";
      }
      return s;
    };
    if (n.i.length) h.push("<h4>inputs</h4><ol>" + n.i.map(v => `<li>${val(v)}</li>`).join("") + "</ol>");
    if (n.out.length) h.push("<h4>outputs</h4><ol>" + n.out.map(v => `<li>${val(v)}</li>`).join("") + "</ol>");
    if (n.m) {
      h.push("<h4>metadata</h4><table>");
      for (const [a, v] of Object.entries(n.m)) row(a, esc(v));
      h.push("</table>");
    }
    this.details.innerHTML = h.join("");
  }
}

function onnxkitMain() {
  const el = document.getElementById("data");
  if (!el) return;
  const data = JSON.parse(el.textContent);
  if (data.diff) window.viewers = diffMain(data);
  else window.viewer = new Viewer(data, document.getElementById("view"));
  window.onnxkitReady = performance.now();     // drawn and answering clicks (benchmarks read it)
}

function diffMain(data) {
  // two viewers side by side, laid out together (matched nodes at the same place):
  // opening, closing or selecting on one side does the same to the twin on the
  // other, each side redraws when the other does, and the two scroll together
  const pair = [];
  const other = v => pair[0] === v ? pair[1] : pair[0];
  let busy = false;
  const opts = {
    onSelect(v, path, m) {
      if (busy) return;
      const k = m.n !== undefined ? m.n : v.G[m.g].nd;
      const match = k !== undefined ? v.N[k].mt : undefined;
      busy = true;
      const o = other(v);
      if (match !== undefined && match !== null && o.select(match)) {
        // the way down to it opened there: open the same here, then redraw both
        mirrorOpen(o, v); v.render(); o.reveal(o.where.get(match));
      } else {                     // no match: open there what is open here, so that its place shows
        mirrorOpen(v, o); o.render(); v.render();
        o.canvas.scrollTop = v.canvas.scrollTop; o.canvas.scrollLeft = v.canvas.scrollLeft;
      }
      busy = false;
    },
    onToggle(v, path, m, opened) {
      if (busy) return;
      const o = other(v), tp = v.twinOf(path);
      if (tp === null) return;
      if (opened) o.open.add(tp); else o.open.delete(tp);
      busy = true; o.render(); busy = false;
    },
    onRender(v) {
      if (busy || pair.length < 2) return;
      busy = true; other(v).render(); busy = false;
    },
  };
  // open on `to` the twins of what is open on `from`
  const mirrorOpen = (from, to) => {
    for (const p of from.open) {
      const tp = p === "" ? "" : from.twinOf(p);
      if (tp !== null) to.open.add(tp);
    }
  };
  for (const side of [0, 1]) {
    pair.push(new Viewer(data.sides[side], document.getElementById("side" + side), opts));
  }
  pair[0].twin = pair[1]; pair[1].twin = pair[0];
  mirrorOpen(pair[0], pair[1]); mirrorOpen(pair[1], pair[0]);
  busy = true; pair[0].render(); pair[1].render(); busy = false;
  for (const v of pair) v.canvas.addEventListener("scroll", () => {
    const o = other(v);
    if (Math.abs(o.canvas.scrollTop - v.canvas.scrollTop) > 1) o.canvas.scrollTop = v.canvas.scrollTop;
    if (Math.abs(o.canvas.scrollLeft - v.canvas.scrollLeft) > 1) o.canvas.scrollLeft = v.canvas.scrollLeft;
  });
  return pair;
}

document.addEventListener("DOMContentLoaded", onnxkitMain);

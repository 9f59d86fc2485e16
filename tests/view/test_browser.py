"""The pages in a real browser: headless Chromium (Debian's package, driven by
Selenium through the system chromedriver; nothing is downloaded) opens each
page from disk, opens groups, searches, clicks nodes and reads their details,
and the console must stay free of errors.

CI installs chromium and chromium-driver (.ci/run); a machine without them
fails here, with what to install."""

from __future__ import annotations

import os
import shutil

import pytest

import onnxkit
from onnxkit.cli import main

from .conftest import scoped_model, transformer_like, wrong_relu

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.fail("the browser tests need Debian's chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,900", "--disable-extensions"):
        opts.add_argument(a)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(30)
    try:
        yield d
    finally:
        d.quit()


def _open(d, path):
    d.get("file://" + os.path.abspath(path))
    d.get_log("browser")  # (anything before load is in the next read too; see _no_errors)


def _no_errors(d):
    bad = [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not bad, bad


def _boxes(d, root="document"):
    return d.execute_script(f"return {root}.querySelectorAll('g[data-k]').length")


def _click(d, css, root="document"):
    d.execute_script(f"{root}.querySelector(arguments[0]).dispatchEvent(new MouseEvent('click', {{bubbles: true}}))", css)


def _details(d, root="document"):
    return d.execute_script(f"return {root}.querySelector('.details').innerText")


def test_view_page(browser, tmp_path):
    d = browser
    p = tmp_path / "scoped.onnx"
    onnxkit.save(scoped_model(), p)
    out = tmp_path / "scoped.html"
    assert main(["view", str(p), "-o", str(out)]) == 0
    _open(d, out)
    # a small graph opens whole, but subgraphs and functions stay closed
    n0 = _boxes(d)
    assert d.execute_script("return document.querySelectorAll('.group.k-node:not(.open)').length") == 2
    _click(d, "g.group.k-node[data-k]")                      # the If: opens onto its two branches
    assert d.execute_script("return document.querySelectorAll('.group.k-node.open').length") == 1
    assert _boxes(d) > n0
    assert "then_branch" in d.execute_script("return document.querySelector('svg').textContent")
    # search by op type: jumps to the node, opens its groups, shows its details
    d.execute_script("const q = document.querySelector('.q'); q.value = 'Softmax';"
                     "q.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}))")
    # (the nodes reading the Softmax's output come after it)
    assert d.execute_script("return document.querySelector('.count').textContent") == "1 of 4"
    text = _details(d)
    assert "Softmax" in text and "/head/Softmax" in text and "axis\t1" in text and "Softmax-13" in text
    # search by value name
    d.execute_script("const q = document.querySelector('.q'); q.value = 'W0';"
                     "q.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}))")
    text = _details(d)
    assert "MatMul" in text and "weight float[8,8], 64 values" in text and "zeros 25 %" in text
    assert "model.py:12 in forward" in text
    # close everything, open level by level by clicking
    _click(d, ".closeall")
    assert _boxes(d) == 4                                    # x, enc, head, y
    _click(d, "g.group.k-scope[data-k]")                     # enc
    assert _boxes(d) == 4 + 3
    # open head, click its Cast node: its attributes
    d.execute_script("[...document.querySelectorAll('g.group.k-scope:not(.open)[data-k]')]"
                     ".find(g => g.textContent.startsWith('head')).dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    d.execute_script("[...document.querySelectorAll('g.node[data-k]')].find(g => g.textContent.startsWith('Cast'))"
                     ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    text = _details(d)
    assert "/head/Cast" in text and "to\t1" in text and "Cast-13" in text
    assert d.execute_script("return document.querySelectorAll('g.sel').length") == 1
    _no_errors(d)


_EDGE_ENDS = """
const out = {deep: 0, bad: []}, HEAD = 24;
const tops = new Set(), bottoms = new Set(), key = (x, y) => Math.round(x) + ',' + Math.round(y);
for (const g of document.querySelectorAll('g[data-k] > rect')) {
  const x = +g.getAttribute('x'), y = +g.getAttribute('y'), w = +g.getAttribute('width'), h = +g.getAttribute('height');
  tops.add(key(x + w / 2, y)); bottoms.add(key(x + w / 2, y + h));
}
const walk = (c, ox, oy) => {
  for (const e of c.edges) {
    const n = e.pts.length;
    for (const [it, x, y, ends] of [[c.items[e.b], e.pts[n - 2], e.pts[n - 1], tops], [c.items[e.a], e.pts[0], e.pts[1], bottoms]]) {
      if (!it.sub) continue;
      out.deep++;
      const inBox = y > it.y - it.h / 2 + HEAD - 1 && y < it.y + it.h / 2 && Math.abs(x - it.x) < it.w / 2;
      if (!inBox || !ends.has(key(ox + x, oy + y))) out.bad.push([e.names, x, y, it.x, it.y, it.w, it.h]);
    }
  }
  for (const it of c.items) if (it.sub)
    walk(it.sub, ox + it.x - it.w / 2 + 12 + (it.w - 24 - it.sub.w) / 2, oy + it.y - it.h / 2 + HEAD);
};
walk(viewer.laid, 20, 20);
return out;
"""


def test_big_generated_model_opens_closed(browser, tmp_path):
    d = browser
    m = transformer_like(60)                                  # 6,241 nodes, scopes four deep
    p = tmp_path / "gen.onnx"
    onnxkit.save(m, p)
    out = tmp_path / "gen.html"
    assert main(["view", str(p), "-o", str(out)]) == 0
    _open(d, out)
    assert _boxes(d) <= 80
    # open one box of each level down to the nodes
    last = ""
    for level in range(6):
        closed = d.execute_script("return [...document.querySelectorAll('g.group:not(.open)[data-k]')]"
                                  ".map(g => g.getAttribute('data-k')).filter(k => (k + '.').startsWith(arguments[0]))"
                                  ".sort((a, b) => a.length - b.length)[0] || null", last)
        if closed is None:
            break
        before = _boxes(d)
        _click(d, f"g[data-k='{closed}']")
        assert _boxes(d) > before
        last = closed + "."
    assert level >= 3
    # an edge into (out of) an open group goes on to the node inside that reads (makes) the value:
    # its end lies inside the group's box, below its heading, on the top (bottom) of a box there
    ends = d.execute_script(_EDGE_ENDS)
    assert ends["deep"] >= 2 and ends["bad"] == []
    labels = d.execute_script("return document.querySelector('svg').textContent")
    assert "Sigmoid" in labels and "float[batch,16]" in labels
    d.execute_script("const q = document.querySelector('.q'); q.value = '/model/layers.59/mlp/b/residual';"
                     "q.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}))")
    assert "/model/layers.59/mlp/b/residual" in _details(d)
    assert d.execute_script("return document.querySelector('g.sel').getAttribute('data-k')") is not None
    _no_errors(d)


def test_compare_page(browser, tmp_path):
    d = browser
    p = tmp_path / "scoped.onnx"
    onnxkit.save(scoped_model(), p)
    out = tmp_path / "cmp.html"
    with wrong_relu():
        assert main(["compare", str(p), "--html", str(out), "--dim", "batch=3", "--seed", "1"]) == 1
    _open(d, out)
    first = d.execute_script("return [...document.querySelectorAll('.st-first')].map(g => g.getAttribute('data-k'))")
    assert len(first) == 1
    # the page opens onto the first divergence: selected, its details shown, the summary says it
    assert d.execute_script("return document.querySelector('g.sel').getAttribute('data-k')") == first[0]
    assert "/enc/layer.0/act/Relu" in _details(d)
    assert "first divergence: node 2 '/enc/layer.0/act/Relu'" in d.execute_script(
        "return document.querySelector('.info').textContent")
    _click(d, ".st-first")
    text = _details(d)
    assert "/enc/layer.0/act/Relu" in text and "max abs error" in text and "first" in text
    assert d.execute_script("return document.querySelectorAll('.st-diverged').length") == 2
    _no_errors(d)


def test_real_bert_page(browser, bert_path, tmp_path):
    d = browser
    out = tmp_path / "bert.html"
    assert main(["view", bert_path, "-o", str(out), "--profile"]) == 0
    _open(d, out)
    d.execute_script("const q = document.querySelector('.q'); q.value = 'LayerNormalization';"
                     "q.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}))")
    import onnx
    want = sum(n.op_type == "LayerNormalization" for n in onnx.load(bert_path).graph.node)
    assert want >= 3 and d.execute_script(
        "return viewer.hits.filter(k => viewer.N[k].o === 'LayerNormalization').length") == want
    text = _details(d)
    assert "epsilon" in text and "weight float[64]" in text and "time" in text
    _no_errors(d)


def _open_bert_diff(d, tmp_path, bert_path):
    """The diff page of BERT against onnxkit optimize of it, opened."""
    opt = tmp_path / "opt.onnx"
    assert main(["optimize", bert_path, str(opt)]) == 0
    out = tmp_path / "diff.html"
    assert main(["diff", bert_path, str(opt), "--html", str(out)]) == 1
    _open(d, out)


def test_diff_page(browser, tmp_path, bert_path):
    d = browser
    _open_bert_diff(d, tmp_path, bert_path)
    left, right = "document.getElementById('side0')", "document.getElementById('side1')"
    assert _boxes(d, left) > 0 and _boxes(d, right) > 0
    assert d.execute_script(f"return {left}.querySelectorAll('.df-removed, .dfhas').length") > 0
    # a node that is on both sides: selecting it on the left selects its match on the right
    d.execute_script("const v = viewers[0]; const k = v.N.findIndex(n => n.df === 'same' && n.o === 'MatMul');"
                     "v.select(k); v.opts.onSelect(v, v.where.get(k), {n: k});")
    assert "MatMul" in _details(d, right)
    assert d.execute_script(f"return {right}.querySelectorAll('g.sel').length") == 1
    _no_errors(d)


# every matched node drawn on both sides (all its groups open): its box's center there and here
_ALIGNED = """
const [a, b] = viewers, out = [];
const shown = (v, p) => { const ps = p.split('.');
  for (let d = 1; d < ps.length; d++) if (!v.open.has(ps.slice(0, d).join('.'))) return false; return true; };
a.N.forEach((n, k) => {
  if (n.mt === undefined) return;
  const pa = a.where.get(k), pb = b.where.get(n.mt);
  if (pa === undefined || pb === undefined || !shown(a, pa) || !shown(b, pb)) return;
  const la = a.locate(pa), lb = b.locate(pb);
  out.push([n.n, la.x + la.w / 2, la.y + la.h / 2, lb.x + lb.w / 2, lb.y + lb.h / 2]);
});
return out;
"""


def test_diff_page_aligns_matched_nodes(browser, tmp_path, bert_path):
    """The two graphs side by side with matched nodes at the same place, as
    opened by default, after opening every group on the left (the right
    follows), and the panes scroll together."""
    d = browser
    _open_bert_diff(d, tmp_path, bert_path)
    pairs = d.execute_script(_ALIGNED)
    assert pairs
    for name, xa, ya, xb, yb in pairs:
        assert abs(xa - xb) < 1 and abs(ya - yb) < 1, name
    # open every group on the left by clicks: each opens its twin on the right
    for _ in range(200):
        closed = d.execute_script("return [...document.getElementById('side0')"
                                  ".querySelectorAll('g.group.k-scope:not(.open), g.group.k-run:not(.open)')]"
                                  ".map(g => g.getAttribute('data-k'))")
        if not closed:
            break
        _click(d, f"g[data-k='{closed[0]}']", "document.getElementById('side0')")
    opened = d.execute_script(_ALIGNED)
    assert len(opened) > len(pairs) and len(opened) >= 100     # (the small BERT: ~130 nodes kept)
    for name, xa, ya, xb, yb in opened:
        assert abs(xa - xb) < 1 and abs(ya - yb) < 1, name
    # the folded nodes on the left only, the nodes that read what replaced them on both sides
    assert d.execute_script("return document.querySelectorAll('#side0 .df-removed').length") > 0
    assert d.execute_script("return document.querySelectorAll('#side1 .df-removed').length") == 0
    assert d.execute_script("return document.querySelectorAll('#side1 .df-rewired').length") > 0
    d.execute_script("viewers[0].canvas.scrollTop = 900; viewers[0].canvas.dispatchEvent(new Event('scroll'))")
    assert d.execute_script("return viewers[1].canvas.scrollTop") == d.execute_script("return viewers[0].canvas.scrollTop")
    # a node without a match, from everything closed: the right opens the twins of the groups opened
    # down to it on the left, so that where it would be shows there too
    d.execute_script("for (const v of viewers) v.open = new Set(['']); viewers[0].render();"
                     "const v = viewers[0]; const k = v.N.findIndex(n => n.df === 'removed' && n.n.split('/').length > 4);"
                     "v.select(k); v.opts.onSelect(v, v.where.get(k), {n: k});")
    opened = d.execute_script("const v = viewers[0], o = viewers[1];"
                              "return [...v.open].filter(p => p && v.twinOf(p) !== null).map(p => o.open.has(v.twinOf(p)))")
    assert len(opened) >= 2 and all(opened)
    _no_errors(d)


def test_nested_bodies_open_in_place(browser, tmp_path):
    from .test_build import loop_and_scan_model
    d = browser
    p = tmp_path / "cf.onnx"
    p.write_bytes(loop_and_scan_model())
    out = tmp_path / "cf.html"
    assert main(["view", str(p), "-o", str(out)]) == 0
    _open(d, out)
    open_nodes = "return document.querySelectorAll('.group.k-node.open').length"
    _click(d, "g.group.k-node[data-k]")                      # the Loop
    assert d.execute_script(open_nodes) == 1
    _click(d, "g.group.k-body:not(.open)[data-k]")          # its body
    assert d.execute_script("return document.querySelectorAll('.group.k-body.open').length") == 1
    # the If inside the Loop's body, then its branches
    d.execute_script("[...document.querySelectorAll('g.group.k-node:not(.open)[data-k]')]"
                     ".find(g => g.textContent.startsWith('If')).dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    assert d.execute_script(open_nodes) == 2
    text = d.execute_script("return document.querySelector('svg').textContent")
    assert "then_branch" in text and "else_branch" in text and "float[2]" in text
    # boxes drawn inside an opened box lie inside it
    inside = d.execute_script("""
      const outer = [...document.querySelectorAll('g.group.k-node.open')][0].querySelector('rect').getBBox();
      return [...document.querySelectorAll('g.group.k-body.open rect')].every(r => {
        const b = r.getBBox();
        return b.x >= outer.x - 0.5 && b.y >= outer.y - 0.5 && b.x + b.width <= outer.x + outer.width + 0.5
          && b.y + b.height <= outer.y + outer.height + 0.5; })""")
    assert inside
    _no_errors(d)

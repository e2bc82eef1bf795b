"""The hidden-targets dashboard in Voila + Chromium: α moves the plots, the buttons jump, data switches.

Screenshots of every stage land in test-artifacts/ (look at them).
"""

from __future__ import annotations

import re

import numpy as np
from conftest import ARTIFACTS, open_dashboard

NB = "01_hidden_targets.ipynb"
SLOW_MS = 240_000  # the kernel answers widgets between notebook cells: the first reply can take a while

TRACES = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(el => (el.data || []).map(t => ({
  name: t.name, type: t.type, visible: t.visible, x: Array.from(t.x || []), y: Array.from(t.y || []),
  z: Array.from(t.z || [])})))"""
# a JS function: the y values of the trace called `name` (as the browser has them now)
TRACE_Y = ("name => { for (const el of document.querySelectorAll('.js-plotly-plot')) for (const t of (el.data || [])) "
           "if (t.name === name) return Array.from(t.y || []); return null; }")


def traces(page) -> list[dict]:
    """Every trace on the page, as plotly.js holds it (name, type, x, y, z)."""
    return page.evaluate(TRACES)


def trace(page, name: str) -> dict:
    found = [t for t in traces(page) if t["name"] == name]
    assert found, f"no trace named {name!r}"
    return found[0]


def readout_alpha(page) -> float:
    return float(page.get_attribute("#ht-readout", "data-alpha"))


def slider_handle(page, label: str):
    box = page.locator(".widget-slider").filter(has=page.locator(".widget-label", has_text=re.compile(f"^{re.escape(label)}$")))
    return box.locator(".noUi-handle").first


def shot(page, name: str) -> None:
    """Screenshot of the whole dashboard (Voila scrolls inside a container, so make the window tall)."""
    ARTIFACTS.mkdir(exist_ok=True)
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": 2400})
    page.locator("#ht-readout").scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / f"hidden_targets_{name}.png"), full_page=True)
    page.set_viewport_size(size)


def upload(page, name: str, content: bytes) -> None:
    with page.expect_file_chooser() as chooser:
        page.locator(".widget-upload").click()
    chooser.value.set_files(files=[{"name": name, "mimeType": "text/csv", "buffer": content}])


def test_dashboard_responds(page, voila_url):
    """One page load (the notebook runs once): α slider, buttons, curves, MNIST, uploads."""
    open_dashboard(page, voila_url, NB, "#ht-readout")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .scatterlayer .point').length > 2")
    assert readout_alpha(page) == 0.05
    spec_before = trace(page, "eigenvalues")["y"]
    inner_before = trace(page, "inner circle (+1)")
    assert len(spec_before) == 3, "circles: three non-trivial eigenvalues"
    assert len(inner_before["x"]) + len(trace(page, "outer circle (−1)")["x"]) == 400, "the 3-D view shows every point"

    handle = slider_handle(page, "α")
    handle.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")  # 10 steps of 0.02 decades: α 0.05 -> 0.079
    page.wait_for_function("() => Math.abs(+document.querySelector('#ht-readout').dataset.alpha - 0.0792) < 0.002",
                           timeout=SLOW_MS)
    page.wait_for_function(
        f"before => {{ const y = ({TRACE_Y})('eigenvalues'); return y && y.some((v, i) => Math.abs(v - before[i]) > 1e-6 * before[i]); }}",
        arg=spec_before)
    assert trace(page, "inner circle (+1)")["z"] != inner_before["z"], "the label coordinate grows with α"
    # the 1 − α slider followed
    one_minus = page.locator(".widget-slider").filter(has=page.locator(".widget-label", has_text="1 − α"))
    shown = float(one_minus.locator(".widget-readout").inner_text())
    assert abs(np.log10(shown) - np.log10(1 - 0.0792)) <= 0.011  # within half a slider step
    shot(page, "circles_alpha")

    page.get_by_role("button", name="→ critical zone").click()
    page.wait_for_function("() => Math.abs(+document.querySelector('#ht-readout').dataset.alpha - 0.9921) < 0.0005",
                           timeout=SLOW_MS)
    assert "label enters" in page.inner_text("#ht-readout")
    page.get_by_role("button", name="→ label on top").click()
    page.wait_for_function("() => document.querySelector('#ht-readout').innerText.includes('coordinate 1 of 3')")
    page.get_by_role("button", name="α = 0").click()
    page.wait_for_function("() => document.querySelector('#ht-readout').innerText.includes('0 (exact)')")
    page.wait_for_function(f"() => ({TRACE_Y})('eigenvalues').length === 2")

    # the background curves finish and the LR curve shows the circles' 50 % at α = 0 and 0 % once the label is in
    page.wait_for_function("() => document.body.innerText.includes('done: effective dimension')", timeout=SLOW_MS)
    lr = trace(page, "LR training error")["y"]
    assert lr[0] >= 0.4 and min(lr) == 0.0, lr  # circles: a coin flip at α = 0, separable once the label is in
    ed = trace(page, "effective dimension")["y"]
    assert ed[0] == 2 and ed[-1] == 1 and max(ed) == 3, ed
    shot(page, "circles_zero")

    # MNIST: hundreds of eigenvalues, digit images, the critical zone near 1e-9
    data_select = page.locator(".widget-dropdown").filter(has=page.locator(".widget-label", has_text=re.compile("^data$"))).locator("select")
    data_select.select_option("MNIST 3 vs 8")
    page.wait_for_function("() => +document.querySelector('#ht-data').dataset.n > 500", timeout=SLOW_MS)
    assert "threes (+1)" in page.inner_text("#ht-data")
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some(e => (e.data || []).some(t => t.type === 'heatmap' && t.visible === true))")
    assert len(trace(page, "eigenvalues")["y"]) > 300, "MNIST: hundreds of non-trivial eigenvalues"
    assert len(trace(page, "digits A-F")["x"]) == 6
    page.get_by_role("button", name="→ critical zone").click()
    page.wait_for_function("() => +document.querySelector('#ht-readout').dataset.alpha < 1e-7", timeout=SLOW_MS)
    assert page.locator("#ht-readout").inner_text().count("coordinate") == 1
    page.wait_for_timeout(1500)
    shot(page, "mnist_zone")

    data_select.select_option("Your file (CSV / NPZ)")
    page.wait_for_function("() => document.body.innerText.includes('Choose a CSV or NPZ file')")
    upload(page, "broken.csv", b"a,b,label\n1,hello,x\n2,3,y\n")
    page.wait_for_function("() => document.body.innerText.includes(\"Could not use that file\")", timeout=SLOW_MS)
    assert "column 'b' is not a number" in page.inner_text("body")
    assert "Traceback" not in page.inner_text("body")
    rows = "\n".join(f"{i % 5},{(i * 7) % 11},{'abc'[i % 3]}" for i in range(60))
    upload(page, "three.csv", f"x1,x2,kind\n{rows}\n".encode())
    page.wait_for_function("() => document.querySelector('#ht-data').innerText.includes('three.csv')", timeout=SLOW_MS)
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some(e => (e.data || []).some(t => t.name === 'c'))")
    assert {"a", "b", "c"} <= {t["name"] for t in traces(page) if t["type"] == "scatter3d"}
    shot(page, "upload")
    assert not page.console_errors, page.console_errors

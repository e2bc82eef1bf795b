"""The landing dashboard renders, links every study, and responds to its sliders."""

from conftest import nudge_slider, open_dashboard, point_positions


def test_landing_page_responds_to_slider(page, voila_url):
    open_dashboard(page, voila_url, "00_index.ipynb", "#linear-accuracy")
    page.wait_for_selector(".js-plotly-plot .scatterlayer .point")
    before = point_positions(page)
    assert len(before) == 400, "the circles scatter should show all 400 points"
    readout = page.locator(".widget-readout").first
    assert readout.inner_text() == "0.05"

    nudge_slider(page, 0, 10)  # noise 0.05 -> 0.15

    page.wait_for_function("() => document.querySelector('.widget-readout').innerText === '0.15'")
    page.wait_for_function(
        "before => { const now = [...document.querySelectorAll('.js-plotly-plot .scatterlayer .point')]"
        ".map(e => e.getAttribute('transform')); return now.length === 400 && now.some((t, i) => t !== before[i]); }",
        arg=before)
    assert "50%" in page.locator("#linear-accuracy").inner_text()
    assert page.locator("text=Device:").count() == 1
    assert not page.console_errors, page.console_errors


def test_landing_links_resolve(page, voila_url):
    """Every study link is relative and names a notebook Voila's tree serves
    (checked against the tree page, without rendering each study)."""
    open_dashboard(page, voila_url, "00_index.ipynb", "#linear-accuracy")
    links = page.eval_on_selector_all(
        "a[href$='.ipynb']", "els => els.filter(e => !/^https?:/.test(e.getAttribute('href'))).map(e => e.href)")
    page.goto(voila_url + "/")
    page.wait_for_selector("text=00_index.ipynb")
    listing = page.inner_text("body")
    for href in links:
        assert href.startswith(voila_url + "/voila/render/"), href
        name = href.rsplit("/", 1)[-1]
        assert name in listing, f"{name} is linked from the landing page but Voila's tree does not list it"

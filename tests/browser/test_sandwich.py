"""The sandwich-models dashboard: Start trains in the background, curves grow, Stop stops it."""

import time

from conftest import ARTIFACTS, open_dashboard

# Points drawn in the dashboard's first (loss) and second (metric) plotly figures.
COUNT_JS = """k => {
  const figs = document.querySelectorAll('.sandwich-dashboard .js-plotly-plot');
  if (figs.length < 2) return -1;
  const gd = figs[k];
  return (gd.data || []).reduce((n, t) => n + (t.x ? t.x.length : 0), 0);
}"""


def points(page, k=0):
    return page.evaluate(COUNT_JS, k)


def test_start_grows_curves_and_stop_stops(page, voila_url):
    open_dashboard(page, voila_url, "04_sandwich_models.ipynb", "button.sandwich-start")
    dash = page.locator(".sandwich-dashboard")
    dash.scroll_into_view_if_needed()
    assert dash.locator("svg[aria-label*='architecture']").count() == 1
    assert "Device:" in dash.inner_text()
    # The paper preset (1,024 wide) trains long enough (tens of seconds) to press Stop mid-run.
    dash.locator(".widget-dropdown", has_text="preset").locator("select").select_option(label="paper (1024 wide)")
    start_loss = points(page, 0)
    page.locator("button.sandwich-start").click()
    page.wait_for_function(f"() => ({COUNT_JS})(0) > {start_loss + 20}", timeout=120_000)
    first = points(page, 0)
    page.wait_for_function(f"() => ({COUNT_JS})(0) > {first}", timeout=60_000)  # still growing
    page.wait_for_function(f"() => ({COUNT_JS})(1) > 4", timeout=120_000)  # metric curves after an epoch
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sandwich_training.png"), full_page=True)

    page.locator("button.sandwich-stop").click()
    page.wait_for_selector("text=Stopped after", timeout=10_000)
    assert page.locator("button.sandwich-start").is_enabled()
    after = points(page, 0)
    time.sleep(1.5)
    assert points(page, 0) == after, "curves kept growing after Stop"
    assert "(stopped)" in page.locator("#sandwich-table").inner_text()
    page.screenshot(path=str(ARTIFACTS / "sandwich_stopped.png"), full_page=True)
    assert not page.console_errors, page.console_errors

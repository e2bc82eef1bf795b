"""Voila on a free 127.0.0.1 port + Debian's Chromium driven by Playwright.

Never runs `playwright install`: it uses /usr/bin/chromium (or $SANDWICHLAB_CHROMIUM).
Without Chromium the browser tests skip, unless SANDWICHLAB_REQUIRE_BROWSER=1 (CI),
where they fail.  A failing test leaves a screenshot in test-artifacts/.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("SANDWICHLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
# Voila's page asks a CDN for icon fonts and gets no answer offline: harmless.
HARMLESS_CONSOLE = re.compile(r"net::ERR_(NAME_NOT_RESOLVED|INTERNET_DISCONNECTED|CONNECTION_REFUSED)|fonts?\b|cdn", re.I)
RENDER_TIMEOUT_MS = 180_000


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def voila_url():
    """Base URL of a Voila server (fast mode) serving notebooks/; stopped after the session."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    log_path = ARTIFACTS / "voila.log"
    env = dict(os.environ, SANDWICHLAB_FAST="1")
    cmd = [sys.executable, "-m", "voila", str(ROOT / "notebooks"), "--no-browser", f"--port={port}",
           "--Voila.ip=127.0.0.1", "--ServerApp.open_browser=False"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"Voila exited with code {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(url + "/", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"Voila did not answer on {url} within 60 s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.3)
        yield url
    finally:
        # Stop what we started, by its PID (its process group holds the kernels it spawned).
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        msg = f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set SANDWICHLAB_CHROMIUM)"
        if os.environ.get("SANDWICHLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(msg + "; SANDWICHLAB_REQUIRE_BROWSER=1 says the browser tests must run")
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    """A fresh page; records console errors (``page.console_errors``); screenshots on failure."""
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" and not HARMLESS_CONSOLE.search(m.text) else None)
    pg.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    pg.console_errors = errors
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is None or rep.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / f"{request.node.name}.png"
        try:
            pg.screenshot(path=str(shot), full_page=True)
            print(f"screenshot saved: {shot}")
        except Exception as exc:  # the page may be gone
            print(f"could not save screenshot: {exc}")
    context.close()


def open_dashboard(page, voila_url: str, notebook: str, ready_selector: str):
    """Open a notebook as a Voila dashboard and wait until ``ready_selector`` is visible."""
    page.goto(f"{voila_url}/voila/render/{notebook}", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector(ready_selector, state="visible", timeout=RENDER_TIMEOUT_MS)
    return page


def nudge_slider(page, index: int, steps: int, key: str = "ArrowRight"):
    """Move the ``index``-th ipywidgets slider on the page by keyboard steps."""
    handle = page.locator(".noUi-handle").nth(index)
    handle.focus()
    for _ in range(steps):
        page.keyboard.press(key)


def point_positions(page, selector: str = ".js-plotly-plot .scatterlayer .point"):
    return page.eval_on_selector_all(selector, "els => els.map(e => e.getAttribute('transform'))")

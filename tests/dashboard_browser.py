"""Shared set-up of the dashboard tests that run a server and drive it in headless Chromium:
a free port, an app served in a background thread, and Playwright's Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 30) -> tuple[int, float]:
    """The HTTP status of ``url`` and the seconds it took (the body is read)."""
    t0 = time.monotonic()
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        resp.read()
        return resp.status, time.monotonic() - t0


def wait_http(url: str, timeout: float | None = None,
              proc: subprocess.Popen | None = None) -> None:
    """Wait until ``url`` answers 200 (failing early if the server process ``proc`` exits).
    Without ``timeout`` it waits on that state alone: the test's timeout mark bounds a hang."""
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}:\n{proc.stdout.read()[-3000:]}")
        try:
            if get(url, 5)[0] == 200:
                return
        except OSError:
            if end is not None and time.monotonic() > end:
                raise
        time.sleep(0.3)


def stop_process(proc: subprocess.Popen, wait: float = 15) -> None:
    """Terminate a server process started by a test; kill it if it does not exit in time."""
    proc.terminate()
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def need_chromium() -> None:
    """Skip (fail on CI) when Debian's chromium is not installed."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; CI must run the browser tests")
        pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium to run this test)")


def server_fixture(app: str):
    """A fixture: ``serve(app)`` on a free port in a background thread (runs stored under
    the test's tmp_path); yields the app's URL, stops the server afterwards."""
    @pytest.fixture
    def server(tmp_path, monkeypatch):
        from workbench.apps import serve

        monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "runs"))
        port = free_port()
        thread = serve(app, port=port, threaded=True)
        try:
            url = f"http://127.0.0.1:{port}/{app}"
            wait_http(url)
            yield url
        finally:
            thread.stop()
            thread.join(10)
    return server


def launch(pw, *extra_args: str):
    """Headless Chromium through Playwright ``pw`` (``sync_playwright()``)."""
    return pw.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])


def fill(page, values, timeout: float | None = None) -> None:
    """Type each (name, value) into the input of the widget with class ``wb-<name>``."""
    for name, value in values:
        box = page.locator(f".wb-{name} input")
        box.fill(value, timeout=timeout)
        box.press("Enter")


NO_DEADLINE = 0  # a Playwright wait without a deadline of its own: it waits on the state
# expect()'s default can't be 0 (Playwright reads it as its 5 s default): a day, i.e. none
EXPECT_NO_DEADLINE = 24 * 3600 * 1000


@contextmanager
def open_page(url: str, *extra_args: str):
    """A page of headless Chromium at ``url`` (skips the test when chromium is missing).

    Its actions (``goto``, ``click``, ``fill``) and ``expect`` assertions wait on the state
    they name without a deadline of their own, however busy the machine: the test's
    ``pytest.mark.timeout`` is the only bound (a guard against a hang, not a speed check)."""
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw, *extra_args)
        expect.set_options(timeout=EXPECT_NO_DEADLINE)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(NO_DEADLINE)
            page.goto(url)
            yield page
        finally:
            expect.set_options(timeout=5_000)  # Playwright's default, for other tests
            browser.close()


def train_in_page(page, values):
    """Type ``values`` (as :func:`fill`), press Train and wait until the status reads Done;
    returns the status locator (for further checks on its text)."""
    from playwright.sync_api import expect

    fill(page, values)
    page.locator(".wb-train button").click()
    status = page.locator(".wb-status")
    expect(status).to_contain_text("Done")
    return status


# Every input and select of the page inside its column (not cut off), and no sideways scroll;
# walks the shadow roots Panel's widgets live in.
_FITS_JS = """() => {
  const cut = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
      if (!['INPUT', 'SELECT'].includes(el.tagName) || el.type === 'checkbox') continue;
      const widget = el.getRootNode().host;
      const column = widget && (widget.parentElement || widget.getRootNode().host);
      const a = el.getBoundingClientRect();
      if (!column || a.width === 0) continue;
      const b = column.getBoundingClientRect();
      if (a.right > b.right + 1 || a.left < b.left - 1) cut.push(widget.className);
    }
  };
  walk(document);
  const d = document.documentElement;
  return {cut, scroll_width: d.scrollWidth, width: d.clientWidth};
}"""


def assert_fits(page) -> None:
    """The page fits its window: no sideways scroll, no input cut off by its column."""
    got = page.evaluate(_FITS_JS)
    assert got["scroll_width"] <= got["width"], f"scrolls sideways: {got}"
    assert not got["cut"], f"inputs cut off: {got['cut']}"

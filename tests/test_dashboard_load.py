"""One dashboard server under load, and ``workbench serve``'s options.

The load test opens 8 browser sessions (Playwright contexts in headless Chromium) on one
grokking server; each sets its own number of steps and trains at once. All must finish, each
page must show its own run (no state shared between sessions), and the server must keep
answering HTTP requests while they train.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import threading
import time

import pytest

from workbench.apps import APPS, _index

from dashboard_browser import (fill, free_port, get, launch, need_chromium, server_fixture,
                               stop_process, wait_http)

SESSIONS = 8
P = 23  # tiny: with the quick preset's width and log_every=20, ~0.1-0.5 s per run alone


server = server_fixture("grokking")


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_eight_sessions_train_at_once(server, tmp_path):
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    steps = [40 + 10 * i for i in range(SESSIONS)]  # each session's own config: 40 … 110
    answers, stop_polling = [], threading.Event()

    def poll():  # the server keeps answering while the sessions train
        while not stop_polling.is_set():
            try:
                answers.append(get(server))
            except OSError as err:
                answers.append((repr(err), float("inf")))
            stop_polling.wait(1.0)

    with sync_playwright() as pw:
        browser = launch(pw, "--disable-dev-shm-usage")
        try:
            pages, t_open = [], time.monotonic()
            for n in steps:  # the eight pages load in parallel
                page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
                page.goto(server, wait_until="commit")
                pages.append(page)
            for n, page in zip(steps, pages):
                fill(page, (("p", str(P)), ("steps", str(n))), timeout=60_000)
            print(f"\n{SESSIONS} pages open after {time.monotonic() - t_open:.1f} s")
            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            t0 = time.monotonic()
            for page in pages:  # all press Train before any is waited for
                page.locator(".wb-train button").click()
            for page in pages:
                expect(page.locator(".wb-status")).to_contain_text("Training", timeout=30_000)
            for n, page in zip(steps, pages):
                status = page.locator(".wb-status")
                expect(status).to_contain_text("Done", timeout=150_000)
                expect(status).to_contain_text(f"{n} steps")  # its own config
                expect(page.locator(".wb-summary")).to_contain_text("final_test_acc")
            seconds = time.monotonic() - t0
            stop_polling.set()
            poller.join(30)
            # every page shows its own run and nothing of another's
            for n, page in zip(steps, pages):
                text = page.locator(".wb-status").inner_text()
                others = [m for m in steps if m != n and f"{m} steps" in text]
                assert not others, (n, text)
            print(f"{SESSIONS} sessions trained at once in {seconds:.1f} s; "
                  f"{len(answers)} GETs, slowest {max(a[1] for a in answers):.2f} s")
        finally:
            browser.close()
    runs = sorted((tmp_path / "runs").glob("grokking-*/summary.json"))
    assert len(runs) == SESSIONS  # eight distinct runs, none trained twice or lost
    assert answers and all(code == 200 for code, _ in answers), answers
    assert max(s for _, s in answers) < 10  # measured ≤ ~2 s on a loaded 2-core machine


# --------------------------------------------------------------------------- the CLI
@pytest.mark.timeout(180)
def test_serve_all_with_cli_options(tmp_path):
    """``workbench serve`` (no app): the index links every app, every app page loads, and
    ``--allow-websocket-origin`` decides which pages may open the session's websocket."""
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", WORKBENCH_STORE=str(tmp_path / "runs"))
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "serve", "--port",
                             str(port), "--address", "127.0.0.1", "--allow-websocket-origin",
                             f"example.test:{port}"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/", 90, proc)
        index = _index().objects[0].object  # the page's content reaches it by websocket
        for name in APPS:
            assert f"(./{name})" in index, name
            assert get(f"{base}/{name}", 60)[0] == 200, name
        first = next(iter(APPS))
        # without the option, Origin example.test is refused (403; checked by hand)
        codes = {origin: _ws_handshake(port, f"/{first}/ws", origin)
                 for origin in (f"http://example.test:{port}", "http://other.test:1")}
        assert codes == {f"http://example.test:{port}": 101, "http://other.test:1": 403}
    finally:
        stop_process(proc)


def _ws_handshake(port: int, path: str, origin: str) -> int:
    """The HTTP status of a websocket upgrade request with ``Origin: origin``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Origin": origin,
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"})
        return conn.getresponse().status
    finally:
        conn.close()

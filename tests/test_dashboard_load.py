"""One dashboard server under load, and ``workbench serve``'s options.

The load test opens 8 browser sessions (Playwright contexts in headless Chromium) on one
grokking server; each sets its own number of steps and trains at once, beside a ninth that
trains until it is stopped. All must finish, each page must show its own run (no state shared
between sessions), and the server must keep answering HTTP requests while runs train.
"""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import time

import panel as pn
import pytest

from workbench.apps import APPS, _index

from dashboard_browser import (fill, free_port, get, launch, need_chromium, server_fixture,
                               stop_process, wait_http)

SESSIONS = 8
P = 23  # tiny: with the quick preset's width and log_every=20, ~0.1-0.5 s per run alone
LONG = 1_000_000  # the ninth session's steps: it trains until it is stopped
NO_DEADLINE = 0  # Playwright waits without a deadline of its own: the test's timeout bounds it


server = server_fixture("grokking")


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_eight_sessions_train_at_once(server, tmp_path):
    """Eight sessions train at once, each its own config, while a ninth session trains a run
    too long to finish during the test (it is stopped at the end): the eight finish while it
    is still training, and the server answers HTTP requests while it trains. Every check waits
    on a state (a status text, a file), none on how fast the machine is."""
    need_chromium()
    from playwright.sync_api import expect, sync_playwright

    steps = [40 + 10 * i for i in range(SESSIONS)]  # each session's own config: 40 … 110
    with sync_playwright() as pw:
        browser = launch(pw, "--disable-dev-shm-usage")
        try:
            pages, t_open = [], time.monotonic()
            for n in steps + [LONG]:  # the nine pages load in parallel
                page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
                page.goto(server, wait_until="commit")
                pages.append(page)
            for n, page in zip(steps + [LONG], pages):
                fill(page, (("p", str(P)), ("steps", str(n))), timeout=NO_DEADLINE)
            print(f"\n{SESSIONS + 1} pages open after {time.monotonic() - t_open:.1f} s")
            *pages, long = pages
            long.locator(".wb-train button").click()
            long_status = long.locator(".wb-status")
            expect(long_status).to_contain_text("Training", timeout=NO_DEADLINE)
            t0 = time.monotonic()
            for page in pages:  # all press Train before any is waited for
                page.locator(".wb-train button").click()
            for n, page in zip(steps, pages):
                status = page.locator(".wb-status")
                expect(status).to_contain_text("Done", timeout=NO_DEADLINE)
                expect(status).to_contain_text(f"{n} steps")  # its own config
                expect(page.locator(".wb-summary")).to_contain_text("final_test_acc")
            seconds = time.monotonic() - t0
            # the long run was training before the first of the eight started and is still
            # training now, after the last finished: they all trained at the same time; and
            # the server answers while it trains (before and after: still training)
            # (a run cannot go back to "Training" once done: the text proves the state)
            expect(long_status).to_contain_text("Training")
            answers = [get(server) for _ in range(3)]
            expect(long_status).to_contain_text("Training")
            long.locator(".wb-stop button").click()
            expect(long_status).to_contain_text("Stopped at step", timeout=NO_DEADLINE)
            # every page shows its own run and nothing of another's
            for n, page in zip(steps, pages):
                others = "|".join(str(m) for m in steps if m != n)
                expect(page.locator(".wb-status")).not_to_contain_text(
                    re.compile(rf"\b({others}) steps"))
            print(f"{SESSIONS} sessions trained at once in {seconds:.1f} s; "
                  f"GETs during training took {', '.join(f'{a[1]:.2f}' for a in answers)} s")
        finally:
            browser.close()
    runs = sorted((tmp_path / "runs").glob("grokking-*/summary.json"))
    assert len(runs) == SESSIONS  # eight distinct runs, none trained twice or lost
    assert [code for code, _ in answers] == [200] * 3, answers


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
        wait_http(base + "/", proc=proc)
        # the page's content reaches it by websocket: its text, from the app's panes
        index = "\n".join(pane.object for pane in _index().select(pn.pane.Markdown))
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

"""The dashboards behind a URL prefix, as jupyter-server-proxy (JupyterLab, Binder) runs them."""

import socket
import subprocess
import sys
import time
import urllib.request

from workbench.apps import APPS, jupyter_server_proxy


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_proxy_entry_point_is_registered_and_well_formed():
    from importlib.metadata import entry_points

    eps = entry_points(group="jupyter_serverproxy_servers")
    assert any(ep.name == "workbench" and ep.load() is jupyter_server_proxy for ep in eps)
    spec = jupyter_server_proxy()
    cmd = " ".join(spec["command"])
    assert "{port}" in cmd and "{base_url}workbench" in cmd and "127.0.0.1" in cmd
    assert spec["absolute_url"] is True


def test_serve_under_a_prefix_answers_index_and_every_app(tmp_path):
    port = _free_port()
    prefix = "/user/someone/workbench"
    cmd = [sys.executable, "-m", "workbench.cli", "serve", "--port", str(port),
           "--address", "127.0.0.1", "--prefix", prefix, "--allow-websocket-origin", "*"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**__import__("os").environ, "WORKBENCH_STORE": str(tmp_path)})
    try:
        base = f"http://127.0.0.1:{port}{prefix}"
        deadline = time.time() + 90
        while True:
            try:
                index = urllib.request.urlopen(base + "/", timeout=30).read().decode()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                assert time.time() < deadline, "server did not start"
                time.sleep(0.5)
        assert "workbench" in index
        for name in APPS:
            with urllib.request.urlopen(f"{base}/{name}", timeout=60) as resp:
                assert resp.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)

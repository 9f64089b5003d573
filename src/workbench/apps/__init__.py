"""Panel dashboards, one per chapter, and :func:`serve` to put them on a local web server.

Each app module exposes ``create_app(store=None, preset="quick")``, which builds a fresh app
(one per browser session), and ends with ``create_app().servable()`` under ``panel serve``::

    workbench serve grokking --port 5006       # one app
    workbench serve                            # every app, with an index page
    panel serve src/workbench/apps/grokking.py # the same app through Panel's own CLI
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

from ..core.config import ConfigError

__all__ = ["APPS", "app_factory", "serve", "check_port"]

APPS: dict[str, str] = {"grokking": "workbench.apps.grokking", "gumbel": "workbench.apps.gumbel",
                       "neural-collapse": "workbench.apps.neural_collapse",
                       "superposition": "workbench.apps.superposition",
                       "li2": "workbench.apps.li2",
                       "xor-grokking": "workbench.apps.xor_grokking"}  # name → module


def app_factory(name: str) -> Callable:
    """The ``create_app`` function of the app called ``name``."""
    if name not in APPS:
        raise ConfigError(f"app: must be one of {', '.join(APPS)} (got {name!r})")
    return importlib.import_module(APPS[name]).create_app


# name → (one line on what the dashboard does, its thumbnail in docs/figures/)
ABOUT: dict[str, tuple[str, str]] = {
    "grokking": ("Train a network on modular arithmetic live and watch it memorise, then "
                 "generalise much later; explore the weight decay × learning rate phase "
                 "diagram.", "01_grokking.png"),
    "gumbel": ("Gumbel-Softmax samples at any temperature, the bias and variance of REINFORCE, "
               "GS and ST-GS, and a categorical VAE trained with each.",
               "30_gumbel_softmax.png"),
    "neural-collapse": ("Train the unconstrained-features model or an MLP and watch the class "
                        "means collapse onto a simplex ETF.", "20_neural_collapse.png"),
    "superposition": ("The loss exponent α_m over the α × γ map: strong vs weak "
                      "superposition; train a new cell and inspect its fit.",
                      "11_superposition_scaling.png"),
    "li2": ("Li₂ (Tian 2025): the grok / no-grok map over group order M × train fraction "
            "against the 2.7482·ln M / M boundary; click a run for its stages.",
            "03_li2_feature_emergence.png"),
    "xor-grokking": ("XOR clusters (Xu et al. 2024): benign overfitting, then grokking, "
                     "across the cluster-mean norm ‖μ‖; train one more ‖μ‖ live.",
                     "04_xor_benign_overfitting.png"),
}
FIGURES = Path(__file__).resolve().parents[3] / "docs" / "figures"  # in a source checkout


def _index():
    """A page with a card per app in :data:`APPS`: its link, one line and a thumbnail (the
    notebook figure of its chapter, when the repository's docs/figures/ is there)."""
    import panel as pn

    cards = []
    for name in APPS:
        text, figure = ABOUT.get(name, ("", ""))
        thumb = FIGURES / figure if figure else None
        image = (pn.pane.PNG(str(thumb), width=220, link_url=f"./{name}")
                 if thumb is not None and thumb.is_file() else pn.Spacer(width=220))
        cards.append(pn.Row(image, pn.pane.Markdown(f"### [{name}](./{name})\n\n{text}",
                                                    width=480), css_classes=["wb-app-card"]))
    return pn.Column(pn.pane.Markdown("# workbench dashboards\n\nOne page per chapter; each "
                                      "trains at the quick preset on this machine."), *cards)


def check_port(address: str, port: int) -> None:
    """A one-line ConfigError unless a server can listen on ``address``:``port`` (0: any
    free port)."""
    import errno
    import socket

    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"port: must be an integer in 0..65535 (got {port!r})")
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise ConfigError(f"address: cannot resolve {address!r} ({err})") from None
    family, _, _, _, where = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            s.bind(where)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise ConfigError(f"port: {port} is in use on {address}; allowed: a free port, "
                                  f"e.g. --port {port + 1 if port < 65535 else 5006}") from None
            raise ConfigError(f"address: cannot listen on {address}:{port} "
                              f"({err.strerror or err})") from None


def serve(app: str | None = None, port: int = 5006, address: str = "127.0.0.1",
          allow_websocket_origin: list[str] | str | None = None, show: bool = False,
          threaded: bool = False, prefix: str = ""):
    """Serve one app (``app``) or, with ``app=None``, every app plus an index page.

    Binds to ``address`` (127.0.0.1: this machine only); ``prefix`` serves under a URL prefix
    (behind a proxy such as jupyter-server-proxy). Blocks until interrupted, unless
    ``threaded=True``: then the server runs in a background thread that is returned (stop it
    with ``.stop()``).
    """
    import panel as pn

    check_port(address, port)
    if app is not None:
        routes = {app: app_factory(app)}
    else:
        routes = {"/": _index, **{name: app_factory(name) for name in APPS}}
    origins = [allow_websocket_origin] if isinstance(allow_websocket_origin, str) else \
        allow_websocket_origin
    return pn.serve(routes, port=port, address=address, websocket_origin=origins or None,
                    show=show, threaded=threaded, title="workbench", prefix=prefix or "")


def jupyter_server_proxy() -> dict:
    """jupyter-server-proxy entry point: JupyterLab (and Binder) gets a "workbench dashboards"
    launcher that starts ``workbench serve`` (every app + index) behind the Jupyter server at
    ``<base_url>/workbench/``. Registered in pyproject.toml under
    ``jupyter_serverproxy_servers``."""
    import sys

    return {
        "command": [sys.executable, "-m", "workbench.cli", "serve", "--port", "{port}",
                    "--address", "127.0.0.1", "--allow-websocket-origin", "*",
                    "--prefix", "{base_url}workbench"],
        "absolute_url": True,
        "timeout": 120,
        "launcher_entry": {"title": "workbench dashboards"},
    }

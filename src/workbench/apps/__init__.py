"""Panel dashboards, one per chapter, and :func:`serve` to put them on a local web server.

Each app module exposes ``create_app(store=None, preset="quick")``, which builds a fresh app
(one per browser session), and ends with ``create_app().servable()`` under ``panel serve``::

    workbench serve grokking --port 5006       # one app
    workbench serve                            # every app, with an index page
    panel serve src/workbench/apps/grokking.py # the same app through Panel's own CLI
"""

from __future__ import annotations

import importlib
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


def _index():
    """A page linking every app in :data:`APPS`."""
    import panel as pn

    links = "\n".join(f"- [{name}](./{name})" for name in APPS)
    return pn.Column(pn.pane.Markdown(f"# workbench dashboards\n\n{links}"))


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

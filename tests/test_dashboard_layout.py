"""The dashboards before any data, and the index page (without a browser; the browser tests
of each dashboard check that its page fits a 1400 px window: dashboard_browser.assert_fits)."""

from __future__ import annotations

import panel as pn
import torch

from workbench.apps import ABOUT, APPS, FIGURES, _index


def apps(store):
    from workbench.apps.grokking import GrokkingApp
    from workbench.apps.gumbel import GumbelApp
    from workbench.apps.neural_collapse import NeuralCollapseApp
    from workbench.apps.li2 import Li2App
    from workbench.apps.superposition import SuperpositionApp
    from workbench.apps.xor_grokking import XorApp

    return [GrokkingApp(store=store), GumbelApp(store=store), NeuralCollapseApp(store=store),
            SuperpositionApp(store=store, autoload=False), Li2App(store=store, autoload=False),
            XorApp(store=store, autoload=False)]


def test_no_empty_plot_before_data(store):
    """An empty Plotly pane draws bare −1…6 axes: each stays hidden until it has a figure,
    and the page says what will appear (its status line)."""
    for app in apps(store):
        panes = app.layout.select(pn.pane.Plotly)
        assert panes, type(app).__name__
        for pane in panes:
            assert pane.visible == (pane.object is not None), (type(app).__name__,
                                                               pane.css_classes)
    grok = apps(store)[0]
    assert "press **Train**" in grok.status.object
    grok.curves.object = {"data": [], "layout": {}}  # the first figure shows the pane
    assert grok.curves.visible


def test_index_has_a_line_and_a_thumbnail_per_dashboard():
    page = _index()
    cards = [row for row in page.objects if "wb-app-card" in (row.css_classes or [])]
    assert len(cards) == len(APPS)
    for name, card in zip(APPS, cards):
        image, text = card.objects
        assert f"[{name}](./{name})" in text.object and ABOUT[name][0] in text.object
        assert isinstance(image, pn.pane.PNG) and (FIGURES / ABOUT[name][1]).is_file()
        assert image.link_url == f"./{name}"


def test_reconstruction_row_labels_do_not_overlap():
    from workbench.gumbel.plots import images_figure

    rows = {k: torch.rand(8, 64) for k in ("data", "Gumbel-Softmax", "ST Gumbel-Softmax",
                                           "REINFORCE")}
    fig = images_figure(rows, 8)
    labels = [a for a in fig.layout.annotations if a.text in rows]
    assert [a.text for a in labels] == list(rows)
    assert all(a.textangle in (None, 0) and a.xanchor == "right" for a in labels)  # horizontal
    ys = sorted(a.y for a in labels)
    gap = min(b - a for a, b in zip(ys, ys[1:])) * fig.layout.height
    assert gap > 40  # pixels between the rows' labels: one line of text each fits

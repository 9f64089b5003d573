"""The reproduction report: ``report.json``, ``report.md`` and ``report.html`` (+ PNGs).

``report.json`` is a list of records (one per claim and scale) with the keys ``id``,
``paper``, ``figure``, ``claim``, ``paper_value``, ``ours``, ``tolerance``, ``verdict``,
``scale``, ``seconds``, ``device`` (and ``detail``, ``reason``, ``config``, ``note``,
``cached``, ``chapter``). ``report.html`` draws each claim's figure with Plotly, the library
inlined so the page works offline; ``report.md`` shows the same sections with PNGs of the
figures (made in headless Chromium when it is available).
"""

from __future__ import annotations

import html
import json
import os
import sys
from pathlib import Path

from ..core.store import write_json
from .rules import FAILS, HOLDS, NOT_RUN, PARTLY

__all__ = ["write_report", "summary_table", "format_ours", "save_pngs"]

ICON = {HOLDS: "✅", PARTLY: "🟡", FAILS: "❌", NOT_RUN: "⏸"}


def _verdict(rec) -> str:
    v = rec["verdict"]
    if v == NOT_RUN:
        return f"not run: {rec.get('reason') or '?'}"
    return v


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items()) + "}"
    return str(v)


def format_ours(ours: dict) -> tuple[list[str], list[dict]]:
    """(``key = value`` lines, per-seed rows) of a record's numbers."""
    lines = [f"{k} = {_fmt(v)}" for k, v in ours.items() if k != "per_seed"]
    return lines, list(ours.get("per_seed") or [])


def _seconds(rec) -> str:
    if rec["verdict"] == NOT_RUN and not rec["seconds"]:
        return ""
    s = rec["seconds"]
    t = f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"
    return t + (" (from the store)" if rec.get("cached") else "")


def summary_table(records: list[dict], scales: list[str]) -> list[str]:
    """Markdown lines: one row per claim, one verdict column per scale."""
    by_id: dict[str, dict[str, dict]] = {}
    for r in records:
        by_id.setdefault(r["id"], {})[r["scale"]] = r
    head = "| claim | paper | figure | " + " | ".join(scales) + " |"
    lines = [head, "|" + "---|" * (3 + len(scales))]
    for cid, per in by_id.items():
        r0 = next(iter(per.values()))
        cells = []
        for s in scales:
            r = per.get(s)
            if r is None:
                cells.append("—")
                continue
            t = _seconds(r)
            cells.append(f"{ICON.get(r['verdict'], '')} {_verdict(r)}" + (f" ({t})" if t else ""))
        lines.append(f"| [{cid}](#{cid}) | {r0['paper']} | {r0['figure']} | " + " | ".join(cells)
                     + " |")
    return lines


def _counts(records, scale) -> str:
    rs = [r for r in records if r["scale"] == scale]
    parts = [f"{sum(r['verdict'] == v for r in rs)} {v}" for v in (HOLDS, PARTLY, FAILS, NOT_RUN)]
    return f"{scale}: " + ", ".join(parts)


def _md_section(cid: str, recs: list[dict], figures: dict[str, str]) -> list[str]:
    r0 = recs[0]
    out = [f"### {cid}", "", f"**{r0['paper']}, {r0['figure']}.** {r0['claim']}", "",
           "Paper:"]
    out += [f"- {p['quantity']}: {p['value']} (*{p['confidence']}*; {p['source']})"
            for p in r0["paper_value"]]
    out += ["", f"Tolerance (fixed before the run): {r0['tolerance']}", ""]
    for r in recs:
        out.append(f"**{r['scale']}**: {ICON.get(r['verdict'], '')} **{_verdict(r)}**"
                   + (f" in {_seconds(r)} on {r['device']}" if _seconds(r) else ""))
        out.append("")
        if r.get("config"):
            out.append(f"- configuration: {r['config']}")
        if r.get("note"):
            out.append(f"- departs from the paper: {r['note']}")
        lines, seeds = format_ours(r["ours"])
        if lines:
            out.append("- ours: " + "; ".join(lines))
        if seeds:
            keys = list(dict.fromkeys(k for s in seeds for k in s))
            out += ["", "  | " + " | ".join(keys) + " |", "  |" + "---|" * len(keys)]
            out += ["  | " + " | ".join(_fmt(s.get(k, "")) for k in keys) + " |" for s in seeds]
            out.append("")
        for d in r.get("detail") or []:
            out.append(f"  - {d}")
        key = f"{r['id']}-{r['scale']}"
        if key in figures:
            out += ["", f"![{key}]({figures[key]})"]
        out.append("")
    return out


def write_report(records, out: str | Path, *, scales: list[str], header: dict,
                 png: bool | None = None) -> dict[str, Path]:
    """Write ``report.json``, ``report.html`` and ``report.md`` (and ``figures/*.png`` when
    ``png`` is true, or when it is None and headless Chromium is available) under ``out``.
    ``records`` are :class:`~workbench.reproduce.runner.Record` objects; ``header`` holds the
    run's date, device, wall time and command. Returns the written paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dicts = [r.to_dict() for r in records]
    write_json(out / "report.json", dicts)
    figs = {f"{r.id}-{r.scale}": r.fig for r in records if r.fig is not None}
    html_path = out / "report.html"
    _write_html(html_path, dicts, figs, scales, header)
    figures: dict[str, str] = {}
    if figs and (png or (png is None and _chromium() is not None)):
        try:
            figures = save_pngs(html_path, list(figs), out / "figures")
        except Exception as err:  # PNGs are a convenience; the HTML has every figure
            print(f"reproduce: no PNGs ({type(err).__name__}: {str(err).splitlines()[0]})",
                  file=sys.stderr)
    md = out / "report.md"
    _write_md(md, dicts, figures, scales, header)
    return {"json": out / "report.json", "md": md, "html": html_path}


INTRO = ("One section per headline claim: the paper's numbers (with the confidence label of "
         "the reference sheet), the tolerance written into the claim's entry before it was "
         "run, our numbers and the verdict — holds, partly or does not hold. `cpu` runs on two "
         "CPU cores at or near the paper's setting (each entry says where it departs from "
         "it); `full` is the paper's own setting, for a GPU. A claim that could not run at a "
         "scale says why. Times are wall-clock seconds on the device named below.")


def _header_lines(header: dict, records, scales) -> list[str]:
    lines = [f"- date: {header.get('date', '')}", f"- device: {header.get('device', '')}",
             f"- wall time: {header.get('wall', '')}"]
    if header.get("jobs", 1) > 1:
        lines.append(f"- claims run at once: {header['jobs']} (separate processes)")
    if header.get("load"):
        lines.append(f"- machine load: {header['load']}")
    if header.get("command"):
        lines.append(f"- command: `{header['command']}`")
    lines.append("- verdicts: " + "; ".join(_counts(records, s) for s in scales))
    return lines


def _write_md(path: Path, records, figures, scales, header) -> None:
    lines = ["# Reproductions: what reproduces here, and what does not", "",
             header.get("intro") or INTRO, ""]
    lines += _header_lines(header, records, scales) + [""]
    lines += summary_table(records, scales) + ["", "## Claims", ""]
    by_id: dict[str, list[dict]] = {}
    for r in records:
        by_id.setdefault(r["id"], []).append(r)
    for cid, recs in by_id.items():
        lines += _md_section(cid, recs, figures)
    path.write_text("\n".join(lines).rstrip() + "\n")


def _write_html(path: Path, records, figs, scales, header) -> None:
    import plotly.offline

    esc = html.escape
    by_id: dict[str, list[dict]] = {}
    for r in records:
        by_id.setdefault(r["id"], []).append(r)
    body = ["<h1>Reproductions: what reproduces here, and what does not</h1>",
            f"<p>{esc(header.get('intro') or INTRO)}</p>"]
    body.append("<ul>" + "".join(f"<li>{esc(x[2:])}</li>"
                                 for x in _header_lines(header, records, scales)) + "</ul>")
    rows = []
    for cid, recs in by_id.items():
        per = {r["scale"]: r for r in recs}
        cells = "".join(
            f"<td class='v-{esc(per[s]['verdict'].replace(' ', '-'))}'>{esc(_verdict(per[s]))}"
            f"{(' (' + esc(_seconds(per[s])) + ')') if _seconds(per[s]) else ''}</td>"
            if s in per else "<td>—</td>" for s in scales)
        rows.append(f"<tr><td><a href='#{esc(cid)}'>{esc(cid)}</a></td>"
                    f"<td>{esc(recs[0]['paper'])}</td><td>{esc(recs[0]['figure'])}</td>{cells}</tr>")
    body.append("<table><tr><th>claim</th><th>paper</th><th>figure</th>"
                + "".join(f"<th>{esc(s)}</th>" for s in scales) + "</tr>" + "".join(rows)
                + "</table>")
    for cid, recs in by_id.items():
        r0 = recs[0]
        body.append(f"<section id='{esc(cid)}'><h2>{esc(cid)}</h2>"
                    f"<p><b>{esc(r0['paper'])}, {esc(r0['figure'])}.</b> {esc(r0['claim'])}</p>")
        body.append("<p>Paper:</p><ul>" + "".join(
            f"<li>{esc(p['quantity'])}: {esc(p['value'])} (<i>{esc(p['confidence'])}</i>; "
            f"{esc(p['source'])})</li>" for p in r0["paper_value"]) + "</ul>")
        body.append(f"<p>Tolerance (fixed before the run): {esc(r0['tolerance'])}</p>")
        for r in recs:
            t = _seconds(r)
            body.append(f"<h3 class='v-{esc(r['verdict'].replace(' ', '-'))}'>{esc(r['scale'])}: "
                        f"{esc(_verdict(r))}{(' in ' + esc(t) + ' on ' + esc(r['device'])) if t else ''}</h3><ul>")
            if r.get("config"):
                body.append(f"<li>configuration: <code>{esc(r['config'])}</code></li>")
            if r.get("note"):
                body.append(f"<li>departs from the paper: {esc(r['note'])}</li>")
            lines, seeds = format_ours(r["ours"])
            if lines:
                body.append(f"<li>ours: {esc('; '.join(lines))}</li>")
            body += [f"<li>{esc(d)}</li>" for d in r.get("detail") or []]
            body.append("</ul>")
            if seeds:
                keys = list(dict.fromkeys(k for s in seeds for k in s))
                body.append("<table><tr>" + "".join(f"<th>{esc(k)}</th>" for k in keys) + "</tr>"
                            + "".join("<tr>" + "".join(f"<td>{esc(_fmt(s.get(k, '')))}</td>"
                                                       for k in keys) + "</tr>" for s in seeds)
                            + "</table>")
            key = f"{r['id']}-{r['scale']}"
            if key in figs:
                body.append(figs[key].to_html(full_html=False, include_plotlyjs=False,
                                              div_id=f"fig-{key}"))
        body.append("</section>")
    style = ("body{font-family:sans-serif;max-width:1000px;margin:auto;padding:1em}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
             "padding:2px 6px;font-size:90%}.v-holds{color:#2e7d32}.v-partly{color:#b26a00}"
             ".v-does-not-hold{color:#c62828}.v-not-run{color:#666}")
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Reproductions</title>"
            f"<style>{style}</style><script type='text/javascript'>"
            f"{plotly.offline.get_plotlyjs()}</script></head><body>"
            + "\n".join(body) + "</body></html>")
    path.write_text(page)


CHROMIUM = "/usr/bin/chromium"


def _chromium() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return None
    return CHROMIUM if Path(CHROMIUM).exists() else None


def save_pngs(html_path: Path, keys: list[str], folder: Path, width: int = 720) -> dict[str, str]:
    """Screenshot each figure ``fig-<key>`` of ``html_path`` to ``folder/<key>.png`` in
    headless Chromium; return key → path relative to the HTML's folder."""
    from playwright.sync_api import sync_playwright

    folder.mkdir(parents=True, exist_ok=True)
    done: dict[str, str] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": width + 120, "height": 900})
            page.goto(html_path.resolve().as_uri(), wait_until="load")
            for key in keys:
                div = page.locator(f"#fig-{key}:has(.main-svg)")
                if not div.count():
                    continue
                target = folder / f"{key}.png"
                div.evaluate(f"(el) => Plotly.relayout(el, {{width: {width}}})")
                div.locator(".svg-container").first.screenshot(path=str(target))
                done[key] = os.path.relpath(target, html_path.parent)
        finally:
            browser.close()
    return done


def read_report(path: str | Path) -> list[dict]:
    """The records of a ``report.json``."""
    return json.loads(Path(path).read_text())

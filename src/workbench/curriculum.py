"""The curriculum runner: execute every notebook with papermill and index the results.

    workbench curriculum --preset quick --jobs 2 --out build/curriculum
    workbench curriculum --only 01 --preset full -p seed=1

Each notebook in ``notebooks/`` (or ``--notebooks DIR``), in name order, is executed with its
``parameters`` cell overridden (``preset``, ``store`` and any ``-p KEY=VALUE``; a name is only
injected into notebooks whose parameters cell declares it), in the notebooks' directory so
relative paths work. ``--out`` receives the executed notebooks, one HTML page per notebook
(nbconvert; plotly figures stay interactive) and ``index.html`` with each notebook's status
and wall time. A failing notebook is reported with its failing cell (number, source, error)
and the command exits with status 1; the other notebooks still run.

``--figures DIR`` also saves one small PNG per notebook: its figure in the cell tagged
``figure``, else its first plotly figure, screenshotted from the HTML page in headless
Chromium (Playwright with Debian's ``/usr/bin/chromium``; plotly's own PNG export needs
``kaleido``, which is not a dependency).
"""

from __future__ import annotations

import ast
import concurrent.futures as cf
import fnmatch
import html
import multiprocessing
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["NotebookResult", "find_notebooks", "execute_notebook", "run_curriculum",
           "write_index", "default_notebooks_dir", "format_failure", "export_figures"]

CHROMIUM = "/usr/bin/chromium"
PRESETS = ("quick", "full")  # the notebooks' presets (papermill parameter ``preset``)


@dataclass
class NotebookResult:
    """What happened to one notebook."""

    name: str
    status: str  # "ok" or "failed"
    seconds: float
    output: str  # the executed notebook (.ipynb), relative to the output directory
    html: str | None = None  # its HTML page, relative to the output directory
    parameters: dict = field(default_factory=dict)
    cell: int | None = None  # failing cell: its index in the source notebook (0-based)
    execution_count: int | None = None
    source: str | None = None
    error: str | None = None  # "ename: evalue"
    figure: str | None = None  # its PNG (``--figures``), relative to the output directory

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def default_notebooks_dir() -> Path:
    """The repository's ``notebooks/`` (next to ``src/``), else ``./notebooks``."""
    here = Path(__file__).resolve().parents[2] / "notebooks"
    return here if here.is_dir() else Path.cwd() / "notebooks"


def find_notebooks(directory: str | Path, only: list[str] | str | None = None) -> list[Path]:
    """The notebooks of ``directory`` in name order, filtered by ``only``: glob patterns
    (``0[12]_*``) or plain substrings (``grokking``) of the file name; any may match."""
    paths = sorted(Path(directory).glob("*.ipynb"))
    if not only:
        return paths
    patterns = [only] if isinstance(only, str) else list(only)

    def hit(p: Path) -> bool:
        return any(fnmatch.fnmatch(p.name, pat) or fnmatch.fnmatch(p.stem, pat) or pat in p.name
                   for pat in patterns)

    return [p for p in paths if hit(p)]


def declared_parameters(path: Path) -> dict:
    """The names (and literal defaults) the notebook's ``parameters`` cell assigns."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    out = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            try:
                                out[target.id] = ast.literal_eval(node.value)
                            except ValueError:
                                out[target.id] = None
    return out


def execute_notebook(path: str | Path, out_dir: str | Path, parameters: dict | None = None,
                     timeout: float | None = None, html_page: bool = True) -> NotebookResult:
    """Execute one notebook into ``out_dir`` (and render its HTML page); never raises for a
    failing cell: the failure is in the result."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    path, out_dir = Path(path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    declared = declared_parameters(path)
    params = {k: v for k, v in (parameters or {}).items() if k in declared}
    out = out_dir / path.name
    result = NotebookResult(path.stem, "ok", 0.0, out.name, parameters=params)
    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(str(path), str(out), parameters=params, cwd=str(path.parent),
                                   kernel_name="python3", progress_bar=False,
                                   execution_timeout=timeout)
    except PapermillExecutionError as err:
        result.status, result.error = "failed", f"{err.ename}: {err.evalue}"
        result.execution_count, result.source = err.exec_count, err.source
        result.cell = _source_index(out, err.cell_index)
    except Exception as err:  # e.g. a kernel that died, a cell timeout, an unreadable file
        result.status, result.error = "failed", f"{type(err).__name__}: {err}".strip()
    result.seconds = time.perf_counter() - t0
    if html_page and out.exists():
        try:
            result.html = _write_html(out, out_dir / f"{path.stem}.html")
        except Exception as err:  # the run's outcome stands; say why there is no page
            result.error = (result.error or "") + f" (no HTML page: {type(err).__name__}: {err})"
    return result


def _source_index(executed: Path, cell_index: int) -> int:
    """Index in the source notebook of cell ``cell_index`` of the executed one (papermill
    inserts an ``injected-parameters`` cell)."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:
        return cell_index
    injected = [i for i, c in enumerate(nb.cells)
                if "injected-parameters" in c.metadata.get("tags", [])]
    return cell_index - 1 if injected and injected[0] < cell_index else cell_index


# The pages work offline: nbconvert's lab template without what it fetches from CDNs (require.js,
# MathJax — the notebooks write their math in Unicode —, mermaid, the widgets' renderer); plotly.js
# is inlined by the notebook renderer. Widget outputs (progress bars) fall back to their text.
OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
# plotly's notebook renderer adds MathJax from a CDN to every figure (for LaTeX labels: none here)
_CDN_SCRIPT = re.compile(r'<script src="https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^"]*">'
                         r'</script>')


def _write_html(notebook: Path, target: Path) -> str:
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    nb.metadata.pop("widgets", None)  # their renderer would come from a CDN
    exporter = HTMLExporter(template_name="lab", template_file="offline.html.j2",
                            extra_loaders=[jinja2.DictLoader({"offline.html.j2": OFFLINE_TEMPLATE})])
    body, _ = exporter.from_notebook_node(nb)
    target.write_text(_CDN_SCRIPT.sub("", body), encoding="utf-8")
    return target.name


def format_failure(r: NotebookResult) -> str:
    """A failing notebook as a few lines: which cell, its source, the error."""
    where = f"cell {r.cell}" if r.cell is not None else "execution"
    if r.execution_count is not None:
        where += f" (In [{r.execution_count}])"
    lines = [f"FAILED {r.name}.ipynb at {where}: {r.error}"]
    if r.source:
        src = r.source.rstrip().splitlines()
        lines += ["    " + ln for ln in src[:12]] + (["    ..."] if len(src) > 12 else [])
    return "\n".join(lines)


def export_figures(results: list[NotebookResult], out: str | Path, figures: str | Path,
                   width: int = 720) -> None:
    """Save ``figures/<notebook>.png`` for each result with an HTML page and a plotly figure
    (the one in the cell tagged ``figure``, else the first); sets ``result.figure``."""
    from playwright.sync_api import sync_playwright

    out, figures = Path(out), Path(figures)
    figures.mkdir(parents=True, exist_ok=True)
    exe = CHROMIUM if Path(CHROMIUM).exists() else None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": width + 120, "height": 900})
            for r in results:
                if not r.html:
                    continue
                page.goto((out / r.html).resolve().as_uri(), wait_until="load")
                drawn = ":has(.main-svg)"  # plotly has drawn it (a widget's empty div has not)
                tagged = page.locator(f".celltag_figure .plotly-graph-div{drawn}")
                fig = (tagged if tagged.count() else page.locator(f".plotly-graph-div{drawn}")).first
                if not fig.count():
                    continue
                target = figures / f"{r.name}.png"
                try:  # a small, fixed width; the figure keeps its own height
                    fig.evaluate(f"(el) => Plotly.relayout(el, {{width: {width}}})")
                    fig.locator(".svg-container").first.screenshot(path=str(target))
                except Exception as err:  # a figure that does not draw costs its PNG only
                    print(f"{r.name}: no figure PNG ({type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else ''})", file=sys.stderr)
                    continue
                r.figure = os.path.relpath(target, out)
        finally:
            browser.close()


def run_curriculum(notebooks: str | Path | list[Path] | None = None, out: str | Path = "build/curriculum",
                   preset: str | None = "quick", only: list[str] | str | None = None,
                   jobs: int = 1, store: str | Path | None = None,
                   parameters: dict | None = None, timeout: float | None = None,
                   html_pages: bool = True, progress: bool = True,
                   figures: str | Path | None = None) -> list[NotebookResult]:
    """Execute the curriculum (see the module docstring); returns one result per notebook,
    in name order, and writes ``out/index.html``.

    ``jobs`` notebooks run at once (each in its own process and kernel). Unless they are set,
    kernels get ``OMP_NUM_THREADS`` = CPU count / ``jobs`` (parallel notebooks do not
    oversubscribe the cores) and ``PLOTLY_RENDERER=plotly_mimetype+notebook`` (figures carry
    an HTML version, with plotly.js inlined once, so they show in the offline HTML pages).
    """
    if isinstance(notebooks, list):
        paths = notebooks
    else:
        paths = find_notebooks(notebooks or default_notebooks_dir(), only)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    params = dict(parameters or {})
    if preset is not None:
        params["preset"] = preset
    if store is not None:
        params["store"] = str(Path(store).resolve())
    jobs = max(1, min(jobs, len(paths) or 1))
    results: dict[str, NotebookResult] = {}
    kernel_env = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // jobs)),
                  "PLOTLY_RENDERER": "plotly_mimetype+notebook",  # figures in the HTML pages
                  "WORKBENCH_STRICT": "1"}  # a failed claim check stops the notebook
    kernel_env = {k: v for k, v in kernel_env.items() if k not in os.environ}
    os.environ.update(kernel_env)
    bar = tqdm(total=len(paths), desc="curriculum", unit="notebook", disable=not progress,
               dynamic_ncols=True)
    try:
        if jobs == 1:
            for p in paths:
                bar.set_postfix_str(p.name)
                results[p.stem] = r = execute_notebook(p, out, params, timeout, html_pages)
                bar.update(1)
                if not r.ok:
                    bar.write(format_failure(r))
        else:
            ctx = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
                futures = {pool.submit(execute_notebook, p, out, params, timeout, html_pages): p
                           for p in paths}
                for fut in cf.as_completed(futures):
                    p = futures[fut]
                    try:
                        r = fut.result()
                    except Exception as err:  # the worker process itself died
                        r = NotebookResult(p.stem, "failed", 0.0, p.name, parameters=params,
                                           error=f"{type(err).__name__}: {err}")
                    results[p.stem] = r
                    bar.set_postfix_str(p.name)
                    bar.update(1)
                    if not r.ok:
                        bar.write(format_failure(r))
    finally:
        bar.close()
        for k in kernel_env:
            os.environ.pop(k, None)
    ordered = [results[p.stem] for p in paths if p.stem in results]
    if figures is not None and html_pages:
        export_figures(ordered, out, figures)
    write_index(ordered, out, preset=preset)
    return ordered


def write_index(results: list[NotebookResult], out: str | Path, preset: str | None = None) -> Path:
    """``out/index.html``: one row per notebook (status, wall time, links), and
    ``out/results.json`` with the same data."""
    import json

    out = Path(out)
    rows = []
    for r in results:
        link = (f'<a href="{html.escape(r.html)}">{html.escape(r.name)}</a>' if r.html
                else html.escape(r.name))
        detail = "" if r.ok else html.escape(
            (f"cell {r.cell}: " if r.cell is not None else "") + (r.error or ""))
        thumb = (f'<img src="{html.escape(r.figure)}" alt="{html.escape(r.name)}" width="240">'
                 if r.figure else "")
        rows.append(f'<tr class="{r.status}"><td>{link}</td><td>{r.status}</td>'
                    f'<td>{r.seconds:.1f} s</td><td><a href="{html.escape(r.output)}">ipynb</a>'
                    f"</td><td>{thumb}</td><td>{detail}</td></tr>")
    failed = sum(not r.ok for r in results)
    total = sum(r.seconds for r in results)
    title = "workbench curriculum" + (f" — preset {html.escape(str(preset))}" if preset else "")
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:.3em 1em;text-align:left}}
tr.failed{{background:#fdd}} tr.ok td:nth-child(2){{color:#070}}</style></head>
<body><h1>{title}</h1>
<p>{len(results)} notebooks, {failed} failed, {total:.1f} s of notebook wall time.</p>
<table><tr><th>notebook</th><th>status</th><th>wall time</th><th>executed</th><th>figure</th><th>error</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
    (out / "index.html").write_text(page, encoding="utf-8")
    (out / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return out / "index.html"

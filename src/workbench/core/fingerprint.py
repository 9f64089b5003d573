"""The code fingerprint: which source files produced a run's numbers.

A run's identity in the store is its config *and* the code that trained it, so a run made by
different code (a learner's edit of ``stablemax``, a change the project makes to a chapter) is
never loaded as if it were current. The fingerprint of an experiment is a SHA-256 over the
*contents* of the source files that determine its numbers — never their paths or
modification times, so it is the same in every process and on every machine that has the
same code:

- every module of ``workbench/core/``;
- every module of the experiment's chapter package (``workbench/<chapter>/``);
- every module of any other chapter package those import (``neural_collapse`` imports
  ``grokking``'s model, so a grokking edit changes its fingerprint too).

Left out, because they never change a number that is stored (:data:`PRESENTATION`):
``plots.py`` (figures drawn from stored metrics), ``widgets.py`` (notebook widgets),
``exercises.py`` (grading of the learner's code), ``scenarios.py`` (named tables of config
values: what they select is in the config, which is hashed anyway) and ``claims.py`` (the
reproduction registry's entries: they read finished runs and judge them). The dashboards
(``apps/``), the CLI and the curriculum runner sit outside ``core/`` and the chapters.

A module's source is hashed as it was when this process imported it (see
:func:`_file_digest`): editing a file without restarting the kernel keeps the fingerprint of
the code that is actually running; a restart (or ``importlib.reload``) picks up the edit.
"""

from __future__ import annotations

import ast
import hashlib
import sys
from pathlib import Path

__all__ = ["PRESENTATION", "code_fingerprint", "chapter_of", "package_files"]

PRESENTATION = frozenset({"plots.py", "widgets.py", "exercises.py", "scenarios.py",
                          "claims.py"})

ROOT = Path(__file__).resolve().parent.parent  # the ``workbench`` package directory

# path → (the module's __spec__ when hashed, sha256 of its source, packages it imports)
_CACHE: dict[Path, tuple[object, str, frozenset]] = {}


def chapter_of(obj) -> str:
    """The chapter package (``grokking``, ...) whose module defines ``obj``."""
    parts = obj.__module__.split(".")
    if len(parts) < 2 or parts[0] != "workbench":
        raise ValueError(f"{obj!r} is not defined in a workbench chapter package")
    return parts[1]


def package_files(package: str) -> list[Path]:
    """The modules of ``workbench/<package>/`` that count for the fingerprint."""
    return sorted(p for p in (ROOT / package).glob("*.py") if p.name not in PRESENTATION)


def _imported_packages(source: bytes) -> frozenset:
    """The ``workbench`` subpackages a chapter module imports (``from ..grokking import x``,
    ``from workbench.grokking.models import y``, ``import workbench.core``)."""
    names = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:  # an edit in progress: its bytes are hashed all the same
        return frozenset()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = (node.module or "").split(".")
            if node.level == 2 and mod[0]:
                names.add(mod[0])
            elif node.level == 0 and mod[0] == "workbench" and len(mod) > 1:
                names.add(mod[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                mod = alias.name.split(".")
                if mod[0] == "workbench" and len(mod) > 1:
                    names.add(mod[1])
    return frozenset(names)


def _file_digest(path: Path, package: str) -> tuple[str, frozenset]:
    """(sha256 of ``path``'s source, the packages it imports), as this process loaded it.

    Hashed once per import of the module: while ``sys.modules`` holds the same module spec,
    the first digest is kept; a re-import (``importlib.reload``, IPython's autoreload) gives
    the module a new spec and the file is read again. Line endings are normalised, so a
    Windows checkout hashes like a Linux one.
    """
    module = sys.modules.get(f"workbench.{package}.{path.stem}")
    spec = getattr(module, "__spec__", None)
    hit = _CACHE.get(path)
    if hit is not None and spec is not None and hit[0] is spec:
        return hit[1], hit[2]
    data = path.read_bytes().replace(b"\r\n", b"\n")
    digest = hashlib.sha256(data).hexdigest()
    _CACHE[path] = (spec, digest, _imported_packages(data))
    return digest, _CACHE[path][2]


def code_fingerprint(chapter: str) -> str:
    """SHA-256 (hex) of the source files that determine the numbers of ``chapter``'s
    experiments: ``core/``, the chapter package, and the chapter packages it imports."""
    todo, seen, lines = ["core", chapter], set(), []
    while todo:
        package = todo.pop()
        if package in seen or not (ROOT / package / "__init__.py").exists():
            continue
        seen.add(package)
        for path in package_files(package):
            digest, imports = _file_digest(path, package)
            lines.append(f"{package}/{path.name} {digest}")
            todo.extend(sorted(imports - seen))
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()

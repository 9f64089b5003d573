"""Reproductions: every headline claim of every paper, the paper's number beside ours.

    workbench reproduce --list
    workbench reproduce prieto-* --scale cpu --out build/reproductions
    workbench reproduce --scale full --out $OUT/reproductions      # on a GPU

:mod:`.registry` holds the claims (each chapter's ``claims.py`` registers its own; its
docstring says how to add one), :mod:`.rules` the verdict rules, :mod:`.runner` runs a claim
through the run store and :mod:`.report` writes ``report.json``, ``report.md`` and
``report.html``.
"""

from . import rules
from .registry import (SCALES, Claim, Compute, Job, Paper, Results, Scale, claims, get_claim,
                       register, select)
from .reproduce import reproduce
from .runner import Record, run_claim

__all__ = ["rules", "SCALES", "Claim", "Compute", "Job", "Paper", "Results", "Scale", "claims",
           "get_claim", "register", "select", "reproduce", "Record", "run_claim"]

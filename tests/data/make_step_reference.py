"""Write ``step_reference.csv``: the metrics of a few short runs of the grokking and
neural-collapse trainers, the categorical VAE and a dropout transformer. The committed file
was made by the eager step paths *before* they became capturable (torch 2.13 CPU, one
thread): grokking MLP and neural collapse at main 6869009; the VAE and the transformer after
the counter-based RNG, before their steps read the step count from a device tensor; and the
``sweep16`` rows, remade when the one Adam (``core.batched.adam_step_``) made every instance
of a 16-instance batch equal its solo run (the old bias correction used a vectorised powf
for ≥ 16 instances; two instances moved by ≤ 4e-4 at step 60);
``tests/test_capture.py`` checks that the step path reproduces them to a stated tolerance.
Regenerate it only for a change meant to alter the numbers (say so in the commit).

    PYTHONPATH=src python tests/data/make_step_reference.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from step_reference_cases import CASES  # noqa: E402

import workbench as wb  # noqa: E402
from workbench.core.device import pick_device  # noqa: E402
from workbench.core.train import train_loop  # noqa: E402


def run_case(name, exp, configs):
    E = wb.get(exp)
    trainer = E.make_trainer(configs, pick_device("cpu"))
    rows = train_loop(trainer, steps=configs[0].steps, log_every=configs[0].log_every,
                      progress=False)
    frame = pd.DataFrame(rows)
    frame.insert(0, "case", name)
    return frame


def main():
    torch.set_num_threads(1)
    frames = [run_case(name, exp, cfgs) for name, (exp, cfgs) in CASES().items()]
    out = pd.concat(frames, ignore_index=True)
    out = out.select_dtypes(include="number").assign(case=out["case"])
    out.to_csv(HERE / "step_reference.csv", index=False, float_format="%.17g")
    print(f"wrote {len(out)} rows to {HERE / 'step_reference.csv'}")


if __name__ == "__main__":
    main()

"""Loading the App/L1/L2 text files: the validating reader against numpy.loadtxt.

Uses the published vectors when present, else writes synthetic users in the same
format to a temporary directory, so the comparison always runs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from _common import fmt_s, machine, table, timeit

from sandwichlab.data import load_app_categories, make_app_categories
from sandwichlab.data.app_categories import TRANSFER_ENV, _has_transfer_files
from sandwichlab.data.paths import find_data_dir


def main():
    root = find_data_dir("transfer", TRANSFER_ENV, _has_transfer_files)
    tmp = None
    if root is None:
        tmp = tempfile.TemporaryDirectory()
        root = Path(tmp.name)
        syn = make_app_categories(seed=0)
        for split, prefix in (("train", "tr_"), ("val", "val_"), ("test", "test_")):
            for name in ("app", "l1", "l2"):
                np.savetxt(root / f"{prefix}{name}.txt", getattr(syn[split], name))
        what = "synthetic users written in the published format"
    else:
        what = f"published vectors in {root}"
    files = sorted(p for p in root.glob("*.txt") if p.name != "user.txt")
    ours = timeit(lambda: load_app_categories(root), repeat=3)
    base = timeit(lambda: [np.loadtxt(p, ndmin=2) for p in files], repeat=3)
    print("## bench_data: reading App/L1/L2 text files\n")
    print(f"Command: `python benchmarks/run_all.py bench_data`  \nMachine: {machine()}  \nData: {what} ({len(files)} files)\n")
    print(table(["reader", "median", "ratio to numpy.loadtxt"],
                [["load_app_categories (validates shape, finiteness, sign, row counts)", fmt_s(ours["median"]), f"{ours['median'] / base['median']:.2f}x"],
                 ["numpy.loadtxt on the same files (baseline)", fmt_s(base["median"]), "1.00x"]]))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()

"""Keep committed notebooks free of outputs, except the cells nbval checks.

    python tools/notebook_outputs.py refresh notebooks/01_hidden_targets.ipynb
        run the notebook in fast mode (SANDWICHLAB_FAST=1, as nbval does), keep the
        outputs of `# NBVAL_CHECK_OUTPUT` cells, strip every other output
    python tools/notebook_outputs.py strip notebooks/*.ipynb
        strip all outputs except those of `# NBVAL_CHECK_OUTPUT` cells
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat

CHECK = "NBVAL_CHECK_OUTPUT"


def is_checked(cell) -> bool:
    return cell.cell_type == "code" and CHECK in cell.source


def strip(nb, keep_checked: bool = True):
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if keep_checked and is_checked(cell) and cell.outputs:
            # nbval compares printed text only, and skips cells without an execution count
            cell.outputs = [o for o in cell.outputs if o.output_type == "stream" and o.name == "stdout"]
            cell.execution_count = 1
        else:
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    return nb


def refresh(path: Path) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env_fast = os.environ.get("SANDWICHLAB_FAST")
    os.environ["SANDWICHLAB_FAST"] = "1"
    try:
        NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if env_fast is None:
            os.environ.pop("SANDWICHLAB_FAST")
        else:
            os.environ["SANDWICHLAB_FAST"] = env_fast
    nbformat.write(strip(nb), path)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("strip", "refresh"):
        print(__doc__)
        return 2
    for name in argv[1:]:
        path = Path(name)
        if argv[0] == "refresh":
            refresh(path)
        else:
            nbformat.write(strip(nbformat.read(path, as_version=4)), path)
        print(f"{argv[0]}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

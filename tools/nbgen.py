"""Build a study notebook from a list of cells, with stable cell ids, and write it.

Used by the tools/make_*.py generators:

    from nbgen import write_notebook
    write_notebook(CELLS, PATH, id_prefix="ml")

``CELLS`` holds nbformat cells or ``("md" | "code", text)`` pairs.  Stable ids
(``<prefix>-00``, ``<prefix>-01``, ...) keep regenerated notebooks' diffs clean.
The notebook is then run in fast mode to store the outputs of the
``# NBVAL_CHECK_OUTPUT`` cells (tools/notebook_outputs.py refresh).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from notebook_outputs import refresh

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def build_notebook(cells, id_prefix: str) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(cells):
        if isinstance(cell, tuple):
            kind, text = cell
            if kind not in ("md", "code"):
                raise ValueError(f"cell {i}: kind must be 'md' or 'code', got {kind!r}")
            text = text.strip("\n")
            cell = new_markdown_cell(text) if kind == "md" else new_code_cell(text)
        cell["id"] = f"{id_prefix}-{i:02d}"
        nb.cells.append(cell)
    return nb


def write_notebook(cells, path: Path, id_prefix: str, run: bool = True) -> None:
    """Write the notebook; with ``run`` also store its nbval-checked outputs."""
    nbformat.write(build_notebook(cells, id_prefix), path)
    print(f"wrote {path}")
    if run:
        refresh(Path(path))
        print(f"stored the checked outputs of {path}")

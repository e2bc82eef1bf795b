"""The project's own rules: one dependency list, arrows pointing one way, clean notebooks."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib" / "sandwichlab"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower()


def _requirement_lines(lines):
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith(("#", "-"))]


def pyproject_deps():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def test_dependency_lists_agree():
    pyproject = sorted(pyproject_deps())
    binder = sorted(_requirement_lines((ROOT / "binder" / "requirements.txt").read_text().splitlines()))
    env = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, ln in enumerate(env) if ln.strip() == "- pip:")
    pip_items = [ln.strip()[2:] for ln in env[start + 1:] if ln.strip().startswith("- ")]
    conda_pip = sorted(_requirement_lines(pip_items))
    assert binder == pyproject, "binder/requirements.txt differs from pyproject.toml"
    assert conda_pip == pyproject, "environment.yml differs from pyproject.toml"


def test_torch_is_pinned_everywhere():
    assert "torch==2.13.0" in pyproject_deps()
    for path in ("binder/requirements.txt", "environment.yml"):
        assert re.search(r"^\s*-?\s*torch==2\.13\.0\s*$", (ROOT / path).read_text(), re.M), path
    assert not any(_name(d) == "torchvision" for d in pyproject_deps())


def test_required_dependencies_listed():
    names = {_name(d) for d in pyproject_deps()}
    for need in ("jupyterlab", "voila", "ipywidgets", "torch", "numpy", "scipy", "plotly", "anywidget",
                 "nbval", "scikit-learn", "tqdm", "mlxtend"):
        assert need in names, need
    test_extra = {_name(d) for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]}
    assert {"pytest", "nbval", "playwright", "hypothesis"} <= test_extra


UI_MODULES = ("ipywidgets", "plotly", "IPython", "anywidget", "tqdm.notebook", "matplotlib", "sandwichlab.ui")


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:  # relative: resolve against the package path
                pkg = list(path.relative_to(LIB.parent).with_suffix("").parts[:-1])
                base = pkg[: len(pkg) - (node.level - 1)]
                mod = ".".join(base + ([mod] if mod else []))
                if not node.module:
                    yield from (f"{mod}.{a.name}" for a in node.names)
                    continue
            yield mod


def test_compute_never_imports_ui():
    offenders = []
    for path in LIB.rglob("*.py"):
        if "ui" in path.relative_to(LIB).parts:
            continue
        for mod in _imports(path):
            if any(mod == u or mod.startswith(u + ".") for u in UI_MODULES):
                offenders.append(f"{path.relative_to(ROOT)} imports {mod}")
    assert not offenders, offenders


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_committed_without_outputs(nb_path):
    nb = json.loads(nb_path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        if "NBVAL_CHECK_OUTPUT" in src:
            assert cell["outputs"], f"cell {i} is checked by nbval but has no stored output"
            assert all(o["output_type"] == "stream" for o in cell["outputs"]), f"cell {i}: only printed text is checked"
        else:
            assert not cell["outputs"], f"cell {i} committed with outputs"
            assert cell.get("execution_count") is None, f"cell {i} has an execution count"
    assert "widgets" not in nb.get("metadata", {}), "widget state committed"
    assert any("NBVAL_CHECK_OUTPUT" in "".join(c["source"]) for c in nb["cells"]), "no nbval-checked summary cell"


def test_index_links_every_study_and_links_resolve():
    index = json.loads((ROOT / "notebooks" / "00_index.ipynb").read_text())
    text = "".join("".join(c["source"]) for c in index["cells"] if c["cell_type"] == "markdown")
    links = set(re.findall(r"\]\(([^)#]+\.ipynb)\)", text))
    for link in links:
        assert (ROOT / "notebooks" / link).is_file(), f"00_index links {link}, which does not exist"
    studies = {p.name for p in NOTEBOOKS} - {"00_index.ipynb"}
    assert studies <= links, f"not linked from 00_index: {sorted(studies - links)}"


def test_readme_shows_the_two_commands_and_binder():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "mybinder.org" in readme and "voila" in readme.lower()
    assert "make test" in (ROOT / ".ci" / "run").read_text()

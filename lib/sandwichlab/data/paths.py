"""Where to look for the optional real data sets.

Real data is never required.  A loader looks, in order, at its argument, its
environment variable, ``<repo>/data/<name>`` and ``<repo>/../shared/data/<name>``;
when nothing is found it falls back to an embedded default and says so.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
CACHE_DIR = REPO_ROOT / "data" / "cache"


def candidate_dirs(name: str) -> list[Path]:
    """The default places a data set called ``name`` may sit."""
    return [REPO_ROOT / "data" / name, REPO_ROOT.parent / "shared" / "data" / name]


def find_data_dir(name: str, env_var: str, has_files) -> Path | None:
    """The directory to load ``name`` from, or None to use the embedded default.

    An explicit ``$env_var`` is taken as given (the loader then reports what is
    missing there); otherwise the first default place where ``has_files`` holds.
    """
    env = os.environ.get(env_var, "").strip()
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"environment variable {env_var}={env!r}: no such directory")
        return path
    for d in candidate_dirs(name):
        if d.is_dir() and has_files(d):
            return d
    return None

"""The reader's own data: a CSV with a label column, or an NPZ with arrays X and y.

``parse_user_file(content, filename)`` takes the raw bytes of an uploaded file
(a dashboard's FileUpload hands over bytes, not a path) and returns a
:class:`UserData`, or raises ValueError with a message a reader can act on.

CSV: comma-separated, one sample per row, an optional header row.  The label
column is ``label_column`` if given, else the column headed ``label``, ``y``,
``class`` or ``target`` (any case), else the last column.  Every other column
must be numeric.  NPZ: ``X`` (N x d, or N x h x w images, flattened) and ``y``
(N labels, or an N x c one-hot matrix), saved with ``numpy.savez``.

Labels: two distinct values become ±1 (the smaller value −1, the larger +1, by
sorted order); three or more become a one-hot matrix (one column per class).
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass

import numpy as np

from .base import check_finite_matrix

LABEL_NAMES = ("label", "y", "class", "target")
MAX_CLASSES = 20


@dataclass(frozen=True)
class UserData:
    """Features ``X`` (N x d float64), labels ``y`` (±1 (N,) or one-hot (N x c)), class names, source."""

    X: np.ndarray
    y: np.ndarray
    classes: tuple
    source: str

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def class_index(self) -> np.ndarray:
        """Integer class of each sample, indexing ``classes``."""
        return (self.y > 0).astype(np.int64) if self.y.ndim == 1 else np.argmax(self.y, axis=1)

    def summary(self) -> str:
        counts = np.bincount(self.class_index, minlength=len(self.classes))
        if self.y.ndim == 1:
            parts = [f"{counts[1]:,} '{self.classes[1]}' (+1)", f"{counts[0]:,} '{self.classes[0]}' (−1)"]
        else:
            parts = [f"{n:,} '{c}'" for c, n in zip(self.classes, counts)]
        return f"{len(self):,} examples x {self.X.shape[1]} features ({', '.join(parts)}); source: {self.source}"


def encode_labels(labels, name: str = "labels") -> tuple[np.ndarray, tuple]:
    """Class labels (N,) of any type -> (±1 vector or one-hot matrix, class names as strings).

    ValueError when there is only one class or more than ``MAX_CLASSES``.
    """
    lab = np.asarray(labels)
    if lab.ndim != 1:
        raise ValueError(f"{name}: expected one label per sample (a 1-D array), got shape {lab.shape}")
    if lab.dtype.kind in "fc" and not np.isfinite(lab).all():
        i = int(np.flatnonzero(~np.isfinite(lab))[0])
        raise ValueError(f"{name}: contains NaN or inf (first at index {i})")
    classes, idx = np.unique(lab, return_inverse=True)
    if classes.size < 2:
        raise ValueError(f"{name}: every sample has the same label ({classes[0]!r}); at least 2 classes are needed")
    if classes.size > MAX_CLASSES:
        raise ValueError(f"{name}: {classes.size} distinct values; at most {MAX_CLASSES} classes are supported "
                         "(is this a numeric feature rather than a class label?)")
    names = tuple(_label_name(c) for c in classes)
    if classes.size == 2:
        return np.where(idx == 1, 1.0, -1.0), names
    Y = np.zeros((lab.size, classes.size))
    Y[np.arange(lab.size), idx] = 1.0
    return Y, names


def _label_name(v) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def parse_user_file(content: bytes, filename: str, label_column: str | None = None) -> UserData:
    """Parse an uploaded CSV or NPZ (raw bytes + its file name); see the module docstring."""
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise ValueError(f"content must be the file's bytes, got {type(content).__name__}")
    if not isinstance(filename, str) or not filename.strip():
        raise ValueError("filename must be a non-empty string (its extension says how to read the file)")
    content = bytes(content)
    if not content:
        raise ValueError(f"{filename}: the file is empty")
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext == "csv":
        return _parse_csv(content, filename, label_column)
    if ext == "npz":
        return _parse_npz(content, filename)
    raise ValueError(f"{filename}: unsupported file type '.{ext}'; upload a .csv (features + a label column) "
                     "or a .npz (arrays X and y)")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_csv(content: bytes, filename: str, label_column: str | None) -> UserData:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{filename}: not UTF-8 text ({exc.reason} at byte {exc.start}); is it really a CSV?") from exc
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise ValueError(f"{filename}: not a readable CSV ({exc})") from exc
    if not rows:
        raise ValueError(f"{filename}: no rows")
    width = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != width:
            raise ValueError(f"{filename}: row {i + 1} has {len(r)} columns but row 1 has {width}")
    if width < 2:
        raise ValueError(f"{filename}: needs at least 2 columns (features and a label), found {width}")
    first = [c.strip() for c in rows[0]]

    def text_columns(row):
        return {j for j, c in enumerate(row) if not _is_number(c.strip())}

    # Row 1 is a header when it has text where the data below it does not: a text
    # label column alone ("0.1,0.2,cat") leaves the first row as data.
    has_header = bool(text_columns(first)) and (len(rows) < 2 or text_columns(first) != text_columns(rows[1]))
    header = first if has_header else [f"column {j + 1}" for j in range(width)]
    body = rows[1:] if has_header else rows
    if label_column is not None:
        wanted = str(label_column).strip().lower()
        matches = [j for j, h in enumerate(header) if h.lower() == wanted]
        if not matches:
            raise ValueError(f"{filename}: label_column {label_column!r} not found; the columns are {header}")
        j_label = matches[0]
    else:
        named = [j for j, h in enumerate(header) if h.lower() in LABEL_NAMES]
        j_label = named[0] if named else width - 1
    if len(body) < 2:
        raise ValueError(f"{filename}: needs at least 2 data rows, found {len(body)}")
    feat_cols = [j for j in range(width) if j != j_label]
    X = np.empty((len(body), len(feat_cols)))
    for i, r in enumerate(body):
        for k, j in enumerate(feat_cols):
            cell = r[j].strip()
            try:
                X[i, k] = float(cell)
            except ValueError:
                line = i + 1 + has_header
                what = "is empty" if not cell else f"is not a number: {cell!r}"
                raise ValueError(f"{filename}: line {line}, column '{header[j]}' {what} "
                                 f"(every column except the label '{header[j_label]}' must be numeric)") from None
    X = check_finite_matrix(X, "X", where=filename)
    raw = [r[j_label].strip() for r in body]
    if any(not v for v in raw):
        line = raw.index("") + 1 + has_header
        raise ValueError(f"{filename}: line {line} has an empty label in column '{header[j_label]}'")
    labels = np.array([float(v) for v in raw]) if all(_is_number(v) for v in raw) else np.array(raw)
    y, classes = encode_labels(labels, f"{filename}: label column '{header[j_label]}'")
    return UserData(X, y, classes, f"{filename} (label column '{header[j_label]}', {len(feat_cols)} feature columns)")


def _parse_npz(content: bytes, filename: str) -> UserData:
    if not content.startswith(b"PK"):  # an .npz is a zip archive
        raise ValueError(f"{filename}: not a readable .npz archive (no zip header); save one with numpy.savez(path, X=X, y=y)")
    try:
        with np.load(io.BytesIO(content), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{filename}: not a readable .npz archive ({exc}); save one with numpy.savez(path, X=X, y=y)") from exc
    except ValueError as exc:  # object arrays need pickle, which we refuse
        raise ValueError(f"{filename}: cannot be read without pickle ({exc}); save plain numeric arrays") from exc
    keys = {k.lower(): k for k in arrays}
    missing = [k for k in ("x", "y") if k not in keys]
    if missing:
        raise ValueError(f"{filename}: needs arrays named X and y; found {sorted(arrays)}")
    X = np.asarray(arrays[keys["x"]])
    y = np.asarray(arrays[keys["y"]])
    if y.ndim == 0 or y.ndim > 2:
        raise ValueError(f"{filename}: y must hold one label per sample (or one-hot rows), got shape {y.shape}")
    if X.ndim < 2:
        raise ValueError(f"{filename}: X must be N x d (or N x h x w images), got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{filename}: X must be numeric, got dtype {X.dtype}")
    X = check_finite_matrix(X.reshape(X.shape[0], -1), "X", where=filename)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{filename}: y has {y.shape[0]} labels but X has {X.shape[0]} rows; they must match")
    if X.shape[0] < 2:
        raise ValueError(f"{filename}: needs at least 2 samples, found {X.shape[0]}")
    if y.ndim == 2 and y.shape[1] >= 2:
        if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all() or (y.sum(axis=1) != 1).any():
            raise ValueError(f"{filename}: a 2-D y must be one-hot (0/1 with exactly one 1 per row), "
                             f"or pass y as one label per sample")
        y = np.argmax(y, axis=1)
    elif y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    y, classes = encode_labels(y, f"{filename}: y")
    return UserData(X, y, classes, f"{filename} (arrays {keys['x']} {tuple(arrays[keys['x']].shape)}, {keys['y']})")

"""The reader's own data: CSV / NPZ bytes as a dashboard upload hands them over."""

from __future__ import annotations

import io

import numpy as np
import pytest

from sandwichlab.data import encode_labels, parse_user_file
from sandwichlab.targets import HiddenTargets


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_csv_with_header_and_named_label_column():
    text = "a,label,b\n1,cat,2\n3,dog,4\n5,cat,6\n"
    ud = parse_user_file(text.encode(), "pets.csv")
    np.testing.assert_array_equal(ud.X, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(ud.y, [-1, 1, -1])  # sorted: cat -> -1, dog -> +1
    assert ud.classes == ("cat", "dog")
    assert "2 'cat' (−1)" in ud.summary() and "label column 'label'" in ud.summary()
    HiddenTargets(ud.X, ud.y)  # ready for the compute module


def test_csv_without_header_uses_last_column_and_numeric_labels():
    ud = parse_user_file(b"0.5,1.5,0\n1.0,2.0,1\n-1,3,1.0\n", "d.csv")
    assert ud.X.shape == (3, 2)
    np.testing.assert_array_equal(ud.y, [-1, 1, 1])  # "1" and "1.0" are one class
    assert ud.classes == ("0", "1")


def test_csv_without_header_and_text_labels_keeps_the_first_row():
    ud = parse_user_file(b"0.1,0.2,cat\n0.3,0.4,dog\n0.5,0.6,cat\n0.7,0.8,dog\n", "pets.csv")
    assert ud.X.shape == (4, 2) and ud.classes == ("cat", "dog")
    np.testing.assert_array_equal(ud.X[0], [0.1, 0.2])


def test_npz_scalar_y_is_a_clear_error():
    with pytest.raises(ValueError, match="y must hold one label per sample"):
        parse_user_file(_npz(X=np.zeros((3, 2)), y=np.array(1.0)), "s.npz")


def test_csv_multiclass_becomes_one_hot_and_label_column_argument():
    text = "kind,x1,x2\nA,0,1\nB,1,0\nC,1,1\nA,2,2\n"
    ud = parse_user_file(text.encode(), "k.csv", label_column="KIND")
    assert ud.y.shape == (4, 3) and ud.classes == ("A", "B", "C")
    np.testing.assert_array_equal(ud.class_index, [0, 1, 2, 0])


def test_npz_with_images_and_one_hot():
    X = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    y = np.eye(2)[[0, 1, 1, 0]]
    ud = parse_user_file(_npz(X=X, y=y), "imgs.npz")
    assert ud.X.shape == (4, 6) and ud.X.dtype == np.float64
    np.testing.assert_array_equal(ud.y, [-1, 1, 1, -1])


@pytest.mark.parametrize("content,name,match", [
    (b"", "e.csv", "empty"),
    (b"1,2\n", "x.txt", "unsupported file type"),
    (b"\xff\xfe\x00bad", "b.csv", "not UTF-8"),
    (b"a,b,label\n1,2\n", "r.csv", "row 2 has 2 columns"),
    (b"a,label\n1,x\n", "one.csv", "at least 2 data rows"),
    (b"a,b,label\n1,,x\n2,3,y\n", "gap.csv", "line 2, column 'b' is empty"),
    (b"a,b,label\n1,hello,x\n2,3,y\n", "txt.csv", "line 2, column 'b' is not a number: 'hello'"),
    (b"a,label\n1,x\n2,x\n", "same.csv", "same label"),
    (b"a,label\n1,x\n2,\n", "nolab.csv", "empty label"),
    (b"a,label\nnan,x\n2,y\n", "nan.csv", "NaN or inf"),
    (b"a,b\n1,2\n3,4\n", "c.csv", None),  # numeric labels 2 and 4: fine
    (b"not a zip", "z.npz", "not a readable .npz"),
    (_npz(A=np.ones((3, 2))), "k.npz", "needs arrays named X and y"),
    (_npz(X=np.ones((3, 2)), y=np.array([1, -1])), "n.npz", "y has 2 labels but X has 3 rows"),
    (_npz(X=np.ones(3), y=np.array([1, -1, 1])), "v.npz", "X must be N x d"),
    (_npz(X=np.ones((3, 2)), y=np.array([[1, 1], [0, 1], [1, 0]])), "h.npz", "must be one-hot"),
    (_npz(X=np.ones((3, 2)), y=np.arange(3.0) / 7), "reg.npz", None),  # 3 classes: fine
    (_npz(X=np.ones((30, 2)), y=np.arange(30.0)), "many.npz", "30 distinct values"),
])
def test_bad_files_give_clear_messages(content, name, match):
    if match is None:
        parse_user_file(content, name)
        return
    with pytest.raises(ValueError, match=match) as info:
        parse_user_file(content, name)
    assert name in str(info.value) or "filename" in str(info.value)


def test_bad_arguments():
    with pytest.raises(ValueError, match="content must be the file's bytes"):
        parse_user_file("a,b", "x.csv")
    with pytest.raises(ValueError, match="filename"):
        parse_user_file(b"a", "")
    with pytest.raises(ValueError, match="label_column 'z' not found"):
        parse_user_file(b"a,b\n1,2\n3,4\n", "x.csv", label_column="z")
    with pytest.raises(ValueError, match="1-D"):
        encode_labels(np.ones((2, 2)))

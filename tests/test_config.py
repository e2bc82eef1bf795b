import pytest

from sandwichlab.config import FAST_ENV, fast_mode, pick


@pytest.mark.parametrize("raw,expected", [("1", True), ("yes", True), ("0", False), ("", False)])
def test_fast_mode_values(monkeypatch, raw, expected):
    monkeypatch.setenv(FAST_ENV, raw)
    assert fast_mode() is expected
    assert pick("full", "fast") == ("fast" if expected else "full")


def test_fast_mode_garbage_is_named(monkeypatch):
    monkeypatch.setenv(FAST_ENV, "maybe")
    with pytest.raises(ValueError, match=FAST_ENV):
        fast_mode()

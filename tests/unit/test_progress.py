"""Progress off a terminal: a line at each tenth of a loop (the last one included), nothing
when progress is off, and the items themselves untouched."""

import re

from smoot_dist.foundations.progress import progress_mode, with_progress


def _lines(capsys):
    return [line for line in capsys.readouterr().out.splitlines() if line]


def test_twenty_batches_give_a_line_at_every_tenth(capsys):
    assert list(with_progress(range(20), "Grad", "lines")) == list(range(20))
    lines = _lines(capsys)
    assert [re.match(r"  Grad: batch (\d+)/20 \((\d+)%\)", line).groups() for line in lines] == [
        (str(i), str(5 * i)) for i in range(2, 21, 2)]
    assert all("ETA" in line for line in lines[:-1]) and lines[-1].endswith("done")


def test_a_short_loop_gives_a_line_per_item_and_one_item_only_its_end(capsys):
    list(with_progress(list("abcd"), "battery", "lines"))
    assert [line.split(" (")[0] for line in _lines(capsys)] == [
        f"  battery: batch {i}/4" for i in range(1, 5)]
    list(with_progress(["x"], "battery", "lines"))
    assert [line.split(" (")[0] for line in _lines(capsys)] == ["  battery: batch 1/1"]


def test_no_progress_prints_nothing(capsys):
    assert list(with_progress(range(7), "Grad", None)) == list(range(7))
    assert _lines(capsys) == []


def test_the_mode_follows_the_terminal():
    assert progress_mode(True, False) == "bar"
    assert progress_mode(False, True) == "lines"
    assert progress_mode(False, False) is None

"""Output folders of the jobs that write one (explain, compare, motivation, sweep): new or empty,
filled under a temporary sibling, renamed in whole; a default folder never meets an earlier one."""

import pytest

from smoot_dist.foundations.errors import UserError
from smoot_dist.foundations.files import StagedFolder
from smoot_dist.foundations.home import output_dir


def test_a_default_folder_of_the_same_second_gets_a_name_of_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv("SMOOT_HOME", str(tmp_path))
    first = output_dir("comparisons", "20261206-010203", fresh=True)
    first.mkdir(parents=True)
    second = output_dir("comparisons", "20261206-010203", fresh=True)
    assert second.name == "20261206-010203-2" and not second.exists()
    assert output_dir("comparisons", "20261206-010203") == first  # a continued job's own folder


def test_a_staged_folder_appears_whole_and_only_where_nothing_was(tmp_path):
    staged = StagedFolder(tmp_path / "out", "--output-dir")
    (staged.staging / "table.md").write_text("t")
    assert not (tmp_path / "out").exists()  # nothing half-written in the final place
    assert staged.publish() == tmp_path / "out"
    assert (tmp_path / "out" / "table.md").read_text() == "t"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left
    with pytest.raises(UserError, match="already holds files, which this job never writes over"):
        StagedFolder(tmp_path / "out", "--output-dir")
    # filled by something else while the job worked: the results are kept, nothing replaced
    late = StagedFolder(tmp_path / "late", "--output-dir")
    (tmp_path / "late").mkdir()
    (tmp_path / "late" / "theirs.txt").write_text("theirs")
    with pytest.raises(UserError, match="was filled by something else meanwhile"):
        late.publish()
    assert (tmp_path / "late" / "theirs.txt").read_text() == "theirs" and late.staging.is_dir()

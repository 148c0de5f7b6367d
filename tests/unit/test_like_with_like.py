"""Comparisons pool runs as seeds only when they trained with the same settings."""

import pytest

from smoot_dist.config import JobConfig
from smoot_dist.config.identity import differing, training_settings
from smoot_dist.foundations.errors import UserError
from smoot_dist.reports.comparison import RunRecord, aggregate, markdown_table, write_csv
from smoot_dist.evaluation.protocol import make_protocol
from smoot_dist.evaluation.record import EvaluationRecord
from smoot_dist.reports.results_page import _one_setting_per_method


def _config(**changes):
    cfg = JobConfig().to_dict()
    for dotted, value in changes.items():
        section, key = dotted.split(".")
        cfg.setdefault(section, {})[key] = value
    return cfg


def test_the_seed_and_where_a_run_trained_are_no_settings():
    base = training_settings(_config())
    moved = training_settings(_config(**{
        "train.seed": 3, "run.workers": 4, "run.storage_path": "/elsewhere", "tracking.uri":
        "http://x", "train.device": "cuda", "data.root": "/data", "train.eval_images": 100}))
    assert moved == base
    assert "train.seed" not in base and not any(k.startswith(("run.", "tracking.")) for k in base)
    assert differing([base, training_settings(_config(**{"method.beta": 0.9}))]) == ["method.beta"]
    assert differing([base, training_settings(_config(**{"train.epochs": 5}))]) == ["train.epochs"]


def test_a_method_is_not_split_by_options_it_does_not_read():
    sgt = dict(_config(**{"method.name": "sgt"}))
    assert training_settings(sgt) == training_settings(_config(**{
        "method.name": "sgt", "method.beta": 0.5, "method.k_max": 0.9}))
    for read in ({"method.k0": 0.3}, {"method.lambda": 0.5}, {"method.fill": "mean"}):
        assert training_settings(sgt) != training_settings(_config(**{"method.name": "sgt",
                                                                        **read})), read
    traditional = training_settings(_config(**{"method.name": "traditional"}))
    assert [k for k in traditional if k.startswith("method.")] == ["method.name"]
    # the ablation masks at random: it reads no saliency option
    assert training_settings(_config(**{"method.name": "random_mask", "method.saliency_abs": True})) \
        == training_settings(_config(**{"method.name": "random_mask"}))


def _run(name, seed, auc, **changes):
    cfg = _config(**{"method.name": "smoot", **changes})
    protocol = make_protocol(("morf",), ("grad",), images=100, fill="background", seed=0)
    return RunRecord(name, "fashion_mnist", "smoot", seed, 100, {"min": 1, "median": 2, "max": 3},
                     0.8, [], settings=training_settings(cfg),
                     evaluation=EvaluationRecord(protocol, {"auc": {"grad": auc}}))


def test_runs_of_differing_settings_are_separate_rows_never_averaged(tmp_path):
    runs = [_run("b95-s0", 0, 20.0), _run("b95-s1", 1, 22.0),
            _run("b90-s0", 0, 30.0, **{"method.beta": 0.9})]
    rows = aggregate(runs)
    assert [(r.setting, r.runs, r.auc[0]) for r in rows] == [
        ("method.beta=0.9", 1, 30.0), ("method.beta=0.95", 2, 21.0)]
    assert rows[1].names == ["b95-s0", "b95-s1"]
    table = markdown_table(rows)
    assert "SMOOT [method.beta=0.9] |" in table and "SMOOT [method.beta=0.95] |" in table
    write_csv(rows, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text().splitlines()[1].endswith(",method.beta=0.9")
    # runs of one setting: one row, no label
    [row] = aggregate(runs[:2])
    assert row.setting == "" and row.runs == 2 and "SMOOT |" in markdown_table([row])


def test_the_results_page_refuses_to_pool_differing_settings():
    same = [{"method": "smoot", "run": f"s{i}", "settings": {"method.beta": 0.95}}
            for i in range(2)]
    _one_setting_per_method(same)
    other = same + [{"method": "smoot", "run": "s9", "settings": {"method.beta": 0.9}}]
    with pytest.raises(UserError, match=r"the SMOOT runs differ in method.beta \(s0, s1, s9\)"):
        _one_setting_per_method(other)

"""One evaluation, one record: protocol ids, the record's files, choosing the record a table
shows, reading records from before ids, and a user's object masks."""

import json

import numpy as np
import pytest
import torch

from smoot_dist.foundations.errors import ConfigError, DataError, UserError
from smoot_dist.evaluation.battery import BatteryOptions
from smoot_dist.reports.comparison import RunRecord, select_protocol
from smoot_dist.metrics.faithfulness.drop import DropCurves
from smoot_dist.evaluation.protocol import closing_protocol, make_protocol
from smoot_dist.evaluation.record import (EvaluationRecord, metrics_of, read_records,
                                          run_records, write_record)

FRACTIONS = tuple(round(0.1 * i, 1) for i in range(10))


def test_the_protocol_id_names_what_differs_and_nothing_else():
    base = make_protocol(("morf", "lerf"), ["grad", "random"], 2000)
    assert base.id.startswith("2000img-background-s0-")
    # the metrics' order on the command line does not matter; everything else does
    assert make_protocol(("lerf", "morf"), ["grad", "random"], 2000).id == base.id
    others = [make_protocol(("morf",), ["grad", "random"], 2000),
              make_protocol(("morf", "lerf"), ["random", "grad"], 2000),  # Random's seed moves
              make_protocol(("morf", "lerf"), ["grad", "random"], 1000),
              make_protocol(("morf", "lerf"), ["grad", "random"], 2000, fill="road"),
              make_protocol(("morf", "lerf"), ["grad", "random"], 2000, seed=1),
              make_protocol(("morf", "lerf"), ["grad", "random"], 2000, saliency_target="logprob"),
              make_protocol(("morf", "lerf"), ["grad", "random"], 2000, batch_size=250)]
    assert len({p.id for p in others} | {base.id}) == 8
    # a battery setting belongs to the protocol only where a named metric uses it
    wide = BatteryOptions(sensitivity_radius=0.05)
    assert make_protocol(("pgd",), ["grad"], 10, options=wide).id == \
        make_protocol(("pgd",), ["grad"], 10, options=BatteryOptions()).id
    assert make_protocol(("max_sensitivity",), ["grad"], 10, options=wide).id != \
        make_protocol(("max_sensitivity",), ["grad"], 10, options=BatteryOptions()).id
    # the keys: prefixed by the id, except the training run's closing evaluation's
    assert base.key("auc_grad") == f"{base.id}/auc_grad"
    closing = closing_protocol(2000, 2)
    assert closing.key("auc_grad") == "auc_grad" and closing.id.startswith("closing-2000img-")
    assert closing_protocol(2000, 1).id != closing.id  # Random's draws depend on the ranks


def test_battery_keys_are_split_by_the_longest_method_name():
    battery = {"sparseness_deeplift": 0.1, "sparseness_deeplift_shap": 0.2,
               "mprt_spearman_grad": [1.0, 0.5, 0.25], "mprt_ssim_grad": [1.0, 0.4, 0.2],
               "pgd_accuracy": 0.5, "object_share": 0.3}
    values = metrics_of(None, battery, ["deeplift", "deeplift_shap", "grad"])
    assert values["sparseness"] == {"deeplift": 0.1, "deeplift_shap": 0.2}
    assert values["mprt"] == {"grad": 0.25}  # the Spearman once every layer is randomised
    assert values["pgd_accuracy"] == 0.5 and values["object_share"] == 0.3


def _record(images=100, auc=10.0, written="2026-12-01 10:00:00", **kw):
    protocol = make_protocol(("morf",), ["grad"], images, **kw)
    curves = DropCurves(FRACTIONS, {"grad": [90.0 - i for i in range(10)]}, images)
    return EvaluationRecord(protocol, {"auc": {"grad": auc}}, curves, {"written": written})


def test_a_record_is_swapped_in_whole_and_reads_back(tmp_path):
    record = _record()
    folder = write_record(tmp_path, record, {})
    assert folder.name == record.id
    assert sorted(p.name for p in folder.iterdir()) == ["drop_curves.csv", "metrics.csv",
                                                        "metrics.json"]
    [back] = read_records(tmp_path)
    assert back.id == record.id and back.metrics == record.metrics
    assert back.curves.accuracy == record.curves.accuracy

    def broken(path):
        raise OSError("disk gone")
    before = (folder / "metrics.json").read_bytes()
    with pytest.raises(OSError):  # an evaluation that fails half way leaves the earlier record
        write_record(tmp_path, _record(auc=99.0), {"drop_curves.png": broken})
    assert (folder / "metrics.json").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [record.id]


def test_records_from_before_protocol_ids_are_read_as_the_protocol_they_state(tmp_path):
    legacy = {"run": "r", "num_images": 200, "fractions": list(FRACTIONS),
              "accuracy": {"grad": [80.0] * 10}, "lerf_accuracy": {"grad": [85.0] * 10},
              "removal_fill": "mean", "orders": ["morf", "lerf"], "seed": 0}
    (tmp_path / "auc.json").write_text(json.dumps(legacy))
    [record] = read_records(tmp_path)
    assert record.protocol.metrics == ("morf", "lerf") and record.protocol.fill == "mean"
    assert record.protocol.images == 200
    assert record.metrics["auc"]["grad"] == pytest.approx(72.0)
    assert record.metrics["srg"]["grad"] == pytest.approx(4.5)
    # a finished run's closing evaluation, from its summary where no record file has it
    summary = {"auc": {"grad": 12.0, "random": 20.0}, "workers": 2,
               "epochs": [{"auc_images": 2000}], "run_name": "r"}
    closing = [r for r in run_records(tmp_path, summary) if r.protocol.closing]
    assert [r.id for r in closing] == [closing_protocol(2000, 2).id]


def _run(name, *records):
    return RunRecord(name, "fashion_mnist", "smoot", 0, 10000, {}, 0.9, list(records))


def test_a_table_shows_the_evaluation_the_most_runs_share():
    closing = EvaluationRecord(closing_protocol(2000, 1), {"auc": {"grad": 30.0}})
    full = _record(images=2000, auc=20.0)
    small = _record(images=100, auc=25.0, written="2026-12-02 10:00:00")
    runs = [_run("a", closing, full, small), _run("b", closing, full), _run("c", closing)]
    # closing (3 runs) beats the fuller one (2 runs); among equals evaluate.py's beats closing
    assert select_protocol(runs).id == closing.id
    assert [r.auc for r in runs] == [{"grad": 30.0}] * 3
    assert select_protocol(runs[:2]).id == full.id and runs[0].auc == {"grad": 20.0}
    # asked for: that one, a run without it shows none
    assert select_protocol(runs, small.id).id == small.id
    assert [r.auc for r in runs] == [{"grad": 25.0}, {}, {}]
    with pytest.raises(UserError, match="no run here has the evaluation 'nope'"):
        select_protocol(runs, "nope")


def _image_tree(root, size=6):
    from PIL import Image

    for split in ("train", "val"):
        for cls in ("a", "b"):
            (root / split / cls).mkdir(parents=True)
            for i in range(2):
                pixels = np.zeros((size, size), dtype=np.uint8)
                pixels[1:3, 1 + i:3 + i] = 200
                Image.fromarray(pixels).save(root / split / cls / f"{i}.png")


def test_object_masks_follow_the_test_images_and_refuse_what_does_not_fit(tmp_path):
    from PIL import Image

    from smoot_dist.config import DataConfig
    from smoot_dist.data.object_masks import read_object_masks

    _image_tree(tmp_path / "images")
    masks = tmp_path / "masks"
    for image in (tmp_path / "images" / "val").rglob("*.png"):
        target = masks / image.relative_to(tmp_path / "images")
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(Image.open(image))).save(target.with_suffix(".bmp"))
    cfg = DataConfig(f"imagefolder:{tmp_path / 'images'}")
    got = read_object_masks(cfg, masks, 6, torch.tensor([3, 0]))  # any extension, in test order
    assert got.shape == (2, 36) and got.sum(1).tolist() == [4, 4]
    assert got[0].view(6, 6)[1:3, 2:4].all() and got[1].view(6, 6)[1:3, 1:3].all()
    # twice the size: resized (nearest) to the run's image size, still 4 object pixels
    big = tmp_path / "images_big"
    _image_tree(big, size=12)
    for path in (masks / "val").rglob("*.bmp"):
        Image.fromarray(np.kron(np.asarray(Image.open(path)), np.ones((2, 2), np.uint8))).save(path)
    assert read_object_masks(DataConfig(f"imagefolder:{big}"), masks, 6,
                             torch.tensor([0])).sum().item() == 4
    with pytest.raises(DataError, match=r"mask .*0.bmp is 12x12, its image .*0.png 6x6; give "
                                        r"every mask its image's size"):
        read_object_masks(cfg, masks, 6, torch.tensor([0]))
    with pytest.raises(ConfigError, match="--masks applies to image folders"):
        read_object_masks(DataConfig("mnist"), masks, 28, torch.tensor([0]))

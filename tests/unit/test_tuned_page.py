"""The results page's "Tuned against tuned" section, from hand-made records (no training), and
the tuned protocol's configuration."""

import copy

from smoot_dist.cli.reproduce import configs_from_args
from smoot_dist.config import build_config
from smoot_dist.reports.results_page import render_page, write_report
from smoot_dist.reports.tuned_page import tuning_record
from smoot_dist.sweep.search_space import load_search_space
from smoot_dist.sweep.tuned import TunedSetting, _dimensions

from .test_results_page import _record, _run


def _sweep(method, best_settings, wall_s):
    trials = [{"trial": f"t{i}", "epochs": e, "objective": 60.0 + i, "val_accuracy": 0.8,
               "val_auc_grad": 20.0, "K_min": 100.0, "K_median": 300.0, "K_max": 500.0,
               **best_settings} for i, e in enumerate((10, 2, 1))]
    return {"sweep": f"tuned-1-fashion_mnist-sweep-tuned_{method}", "method": method,
            "objective": "combined", "mode": "max", "objective_images": 1000, "val_images": 2000,
            "num_samples": 3, "epochs": 10, "asha_rungs": [1, 2, 4, 8], "trials": trials, "best": trials[0], "output_dir": "/nowhere",
            "wall_s": wall_s}


def _tuned_record():
    cfg = build_config(None, {"data": {"dataset": "fashion_mnist"}})
    sgt_best = {"k0": 0.45, "lambda": 2.5, "fill": "mean"}
    smoot_best = {"alpha": 0.01, "beta": 0.7, "k_min": 0.1, "k_max": 0.9, "k0": 0.55,
                  "lambda": 0.5, "fill": "background"}
    tuned = []
    for method, best, wall in (("sgt", sgt_best, 600.0), ("smoot", smoot_best, 900.0)):
        space = load_search_space(f"tuned_{method}")
        settings = {**cfg.to_dict(("method",))["method"], **best, "name": method}
        tuned.append(TunedSetting(f"tuned_{method}", method, settings, _sweep(method, best, wall),
                                  _dimensions(space), False, cfg))
    record = _record()
    for run in record["runs"]:
        run.update(num_pixels=784, k_bounds=[0.2, 0.8])
    record["protocol"], record["command"] = "tuned", "python jobs/reproduce.py --protocol tuned"
    for seed in range(3):  # tuned SGT: AUC 2 below SGT's; tuned SMOOT: 3 below SMOOT's
        record["runs"] += [
            {**_run("sgt", seed, 87.0 + seed, 23.0 + seed, 22.0, (392, 392, 392)),
             "run": f"r-sgt-tuned-{seed}", "method": "sgt_tuned"},
            {**_run("smoot", seed, 88.0 + seed, 21.0 + seed, 23.0, (80, 300 + seed, 700)),
             "run": f"r-smoot-tuned-{seed}", "method": "smoot_tuned",
             "num_pixels": 784, "k_bounds": [0.1, 0.9]}]
    record.update(tuning_record(tuned, cfg))
    return record


def test_tuned_section_states_the_spaces_the_best_trials_and_paired_claims():
    page = render_page([_tuned_record()], "results", None)
    section = page[page.index("# Tuned against tuned"):]
    assert "## Tuned against tuned: Fashion-MNIST" in section
    assert "python jobs/reproduce.py --protocol tuned" in section
    # the spaces side by side: alpha only SMOOT reads; k0 over the same range for both
    assert "| alpha | not read | log-uniform [0.003, 0.3] |" in section
    assert "| k0 | uniform [0.4, 0.6] | uniform [0.4, 0.6] |" in section
    # best rows: trials (epochs trained: 10 + 2 + 1), wall time, objective, val accuracy
    assert "| SGT (`tuned-1-fashion_mnist-sweep-tuned_sgt`) | 3 (13) | 10 min | t0 | 10 | 60 | 80.00% |" in section
    assert "| SMOOT (`tuned-1-fashion_mnist-sweep-tuned_smoot`) | 3 (13) | 15 min |" in section
    # best configurations beside the preset, searched ones in bold (SGT reads no alpha)
    assert "| alpha | 0.1 | **0.1** | **0.01** |" not in section  # SGT's alpha was not searched
    assert "| alpha | 0.1 | 0.1 | **0.01** |" in section
    assert "| lambda | 1 | **2.5** | **0.5** |" in section
    # the confirmation table has the tuned rows after the untuned ones
    confirmation = section[section.index("### Confirmation on the test set"):]
    assert confirmation.index("| SGT | 10K") < confirmation.index("| SGT (tuned) | 10K") \
        < confirmation.index("| SMOOT | 10K") < confirmation.index("| SMOOT (tuned) | 10K")
    # paired: tuned SGT - tuned SMOOT AUC = (23 + s) - (21 + s) = 2 on every seed
    assert ("| Tuned SMOOT AUC < tuned SGT AUC (A = SGT (tuned), B = SMOOT (tuned)) | +2.00 | "
            "[+2.00, +2.00] | 3 | holds |") in section
    assert ("| Tuned SMOOT AUC < SMOOT AUC (tuning helps SMOOT) (A = SMOOT, B = SMOOT (tuned)) | "
            "+3.00 | [+3.00, +3.00] | 3 | holds |") in section
    assert "Tuned SGT AUC < Traditional AUC" in section
    # K of the tuned SMOOT beside the untuned and the paper's
    assert "### K under the tuned alpha (0.01)" in section
    assert "| SMOOT (tuned), here (mean over 3 seeds) | 80 | 301 | 700 | 78 - 706 |" in section
    assert "| SMOOT, the paper (100 epochs, all training images) | 223 | 372 | 576 | 157 - 627 |" in section
    assert "rungs after 1, 2, 4, 8 epoch(s)" in section
    assert "No sweep read a test image" in section
    # the paper's claims are not repeated in the tuned section
    assert "SMOOT AUC < SGT AUC (A = SGT, B = SMOOT)" not in section


def test_tuned_and_paper_sections_of_one_dataset_are_two_records(tmp_path):
    page = tmp_path / "results.md"
    write_report(page, _record())
    write_report(page, _tuned_record())
    write_report(page, copy.deepcopy(_record()))  # the cpu section again: the tuned one stays
    names = {p.name for p in (tmp_path / "results").glob("*.json")}
    assert names == {"fashion_mnist.json", "fashion_mnist_tuned.json"}
    text = page.read_text()
    assert text.index("## Fashion-MNIST") < text.index("# Tuned against tuned") \
        < text.index("## Tuned against tuned: Fashion-MNIST")


def test_tuned_protocol_sweeps_both_methods_on_a_validation_split_at_cpu_scale():
    cfgs, name = configs_from_args(["--protocol", "tuned"])
    assert name == "tuned" and [c.data.dataset for c in cfgs] == ["fashion_mnist"]
    c = cfgs[0]
    assert (c.data.train_subset, c.data.val_images, c.train.epochs) == (10000, 2000, 10)
    assert c.reproduce.tune == "tuned_sgt,tuned_smoot" and c.reproduce.seeds == 6
    assert (c.sweep.objective, c.sweep.num_samples, c.sweep.workers_per_trial) == ("combined", 12, 1)
    assert [load_search_space(n).method for n in c.reproduce.tune.split(",")] == ["sgt", "smoot"]

"""The results page rendered from per-dataset records (no training: hand-made records)."""

import json

from smoot_dist.reports.results_page import (RECORD_VERSION, k_trajectory, render_page,
                                                write_claims_figure, write_report)

FRACTIONS = [0.1 * i for i in range(10)]


def _run(method, seed, accuracy, auc, srg, k=(0, 0, 0), epochs=2):
    k_epochs = [{"epoch": e, "k_min": k[0] - 10 * (epochs - e), "k_median": k[1], "k_max": k[2],
                 "k_share_at_min": 0.01 * e, "k_share_at_max": 0.02 * e} for e in range(1, epochs + 1)]
    return {"run": f"r-{method}-{seed}", "method": method, "seed": seed, "accuracy": accuracy,
            "num_test": 10000, "auc": auc, "srg": srg, "auc_images": 2000, "fractions": FRACTIONS,
            "morf": [90.0 - 9 * i for i in range(10)], "lerf": [90.0] * 10,
            "k": {"min": k[0], "median": k[1], "max": k[2]}, "k_epochs": k_epochs,
            "k_source": "summary", "wall_time_s": 60.0, "eval_time_s": 40.0}


def _record(dataset="fashion_mnist", title="Fashion-MNIST"):
    runs = []
    for seed in range(3):
        runs += [_run("traditional", seed, 88.0 + seed, 30.0 + seed, 20.0),
                 _run("sgt", seed, 87.0 + seed, 25.0 + seed, 22.0, (392, 392, 392)),
                 _run("smoot", seed, 87.5 + seed, 24.0 + seed, 23.0, (200 + 10 * seed, 380, 600))]
    return {"version": RECORD_VERSION, "dataset": dataset, "title": title, "date": "2026-11-29",
            "commit": "abc1234", "protocol": "cpu", "command": "python jobs/reproduce.py --protocol cpu",
            "wall_s": 3000.0, "machine": "2 CPU cores", "settings": "10,000 training images",
            "reproduction": "cpu-1", "figures": {"k_trajectory": "fashion_mnist_k_trajectory.png"},
            "runs": runs}


def test_page_holds_our_table_the_papers_the_claims_and_k_per_epoch():
    page = render_page([_record()], "results", "## Discussion\n\nwhy.")
    assert "python jobs/reproduce.py --protocol cpu" in page
    # ours: mean ± std over the 3 seeds (accuracy 87.5, 88.5, 89.5; K min 200, 210, 220)
    assert "| SMOOT | 10K | 210 ± 10 | 380 ± 0 | 600 ± 0 | 88.50 ± 1.00% | 25.00 ± 1.00 | 23.00 ± 0.00 | 3 |" in page
    assert "| Traditional | 10K | 0 ± 0 | 0 ± 0 | 0 ± 0 | 89.00 ± 1.00% | 31.00 ± 1.00 |" in page
    # the paper's Table 3 beside it
    assert "The paper's Table 3" in page and "| SMOOT | 10K | 223 | 372 | 576 | 93.65% | 36.18 |" in page
    # SGT - SMOOT AUC is exactly 1 on every seed: the interval is [1, 1] and the claim holds
    assert "| SMOOT AUC < SGT AUC (A = SGT, B = SMOOT) | +1.00 | [+1.00, +1.00] | 3 | holds |" in page
    assert "| SMOOT accuracy >= SGT accuracy (A = SMOOT, B = SGT) | +0.50 points | [+0.50, +0.50] | 3 | holds |" in page
    # K per epoch, averaged over the SMOOT seeds (min 200/210/220 - 10 at epoch 1)
    assert "| 1 | 200 | 380.0 | 600 | 1.0% | 2.0% |" in page
    assert "| 2 | 210 | 380.0 | 600 | 2.0% | 4.0% |" in page
    # figures: only those the record names
    assert "(results/fashion_mnist_k_trajectory.png)" in page and "drop_curves.png" not in page
    assert "- SMOOT: accuracy 88.50% here vs 93.65% in the paper; AUC 25.00 vs 36.18; K 210 / 380 / 600 vs 223 / 372 / 576." in page
    assert "AUC and SRG on 2,000 class-balanced test images" in page
    assert page.rstrip().endswith("why.")
    assert "Wall time 50 min. Commit" in page  # nothing reused: the command's own time only


def test_wall_time_of_a_command_that_added_seeds_also_gives_all_runs_time():
    record = _record()
    record["reused"] = 6  # seeds 0-1 from the earlier command, seed 2 trained by this one
    page = render_page([record], "results", None)
    # 9 runs x (60 s training + 40 s evaluation) = 15 min
    assert ("Wall time 50 min: this command reused 6 of its 9 runs from an earlier one with the "
            "same --id; training and evaluating all 9 took 15 min. Commit") in page
    record.update(reused=9, wall_s=12.4)  # all reused: the page re-rendered, in seconds
    assert "Wall time 12 s: this command reused 9 of its 9 runs" in render_page([record], "r", None)


def test_report_collects_the_records_of_separate_commands(tmp_path):
    page = tmp_path / "docs" / "results.md"
    write_report(page, _record())
    write_report(page, _record("mnist", "MNIST"))
    (tmp_path / "docs" / "results" / "old.json").write_text(json.dumps({"version": 0}))
    (tmp_path / "docs" / "results" / "discussion.md").write_text("## What explains it\n")
    write_report(page, None)  # re-render only
    text = page.read_text()
    assert text.index("## Fashion-MNIST") < text.index("## MNIST")  # sorted by dataset name
    assert text.count("The paper's claims at this scale") == 2
    assert "The paper's Table 2" in text and "## What explains it" in text
    assert {p.name for p in (tmp_path / "docs" / "results").glob("*.json")} == {
        "fashion_mnist.json", "mnist.json", "old.json"}


def test_k_trajectory_from_the_summary_when_the_run_was_not_tracked():
    summary = {"epochs": [{"epoch": e, "k": {"min": 300 - e, "median": 392, "max": 400 + e,
                                              "share_at_min": 0.0, "share_at_max": 0.1 * e}}
                          for e in (1, 2)]}
    rows, source = k_trajectory(summary)
    assert source == "summary"
    assert rows == [{"epoch": 1, "k_min": 299, "k_median": 392, "k_max": 401, "k_share_at_min": 0.0,
                     "k_share_at_max": 0.1},
                    {"epoch": 2, "k_min": 298, "k_median": 392, "k_max": 402, "k_share_at_min": 0.0,
                     "k_share_at_max": 0.2}]


def test_claims_figure_needs_two_paired_seeds_and_sits_under_the_claims_table(tmp_path):
    record = _record()
    assert write_claims_figure(record, tmp_path) == "fashion_mnist_claims.png"
    assert (tmp_path / "fashion_mnist_claims.png").stat().st_size > 0
    one_seed = {**record, "runs": [r for r in record["runs"] if r["seed"] == 0]}
    assert write_claims_figure(one_seed, tmp_path / "none") is None
    record["figures"]["claims"] = "fashion_mnist_claims.png"
    page = render_page([record], "results", None)
    table_end = page.index("| SGT AUC < Traditional AUC")
    figure = page.index("![Fashion-MNIST: the claims' intervals](results/fashion_mnist_claims.png)")
    assert table_end < figure < page.index("### K during training")


def test_k_histogram_bins_hold_whole_pixel_counts():
    """Bins of a fractional width hold one count in some, two in others: a comb not in the data."""
    from smoot_dist.plots.figure import integer_bins

    for lo, hi, most in ((157, 627, 60), (0, 784, 80), (300, 310, 80)):
        edges = integer_bins(lo, hi, most)
        widths = {round(b - a, 9) for a, b in zip(edges, edges[1:])}
        assert len(widths) == 1 and float(widths.pop()).is_integer()
        assert edges[0] == lo - 0.5 and edges[-1] >= hi + 0.5 and len(edges) - 1 <= most


def test_results_page_figures_come_as_svg_beside_png(tmp_path):
    from smoot_dist.plots.curves import plot_drop_curves
    from smoot_dist.plots.figure import svg_copies

    curves = {"Grad": [90.0, 50.0, 20.0], "Random": [90.0, 85.0, 80.0]}
    plot_drop_curves(curves, [0.0, 0.5, 0.9], tmp_path / "run.png", chance=10.0,
                     aucs={"Grad": 40.0})
    assert not (tmp_path / "run.svg").exists()  # a run's own figures: PNG only
    with svg_copies():
        plot_drop_curves(curves, [0.0, 0.5, 0.9], tmp_path / "page.png")
    assert "<svg" in (tmp_path / "page.svg").read_text()[:500]


def test_a_decoy_record_is_a_section_of_the_shortcuts_part_with_its_own_claims():
    runs = []
    for seed in range(3):
        for method, gap, share in (("traditional", 0.06, 0.08), ("sgt", 0.05, 0.06),
                                   ("smoot", 0.04 + 0.01 * seed, 0.05), ("rrr", 0.0, 0.001),
                                   ("random_mask", 0.03, 0.03)):
            run = _run(method, seed, 92.0, 10.0, 50.0)
            run["battery"] = {"decoy_accuracy": 0.92 - gap / 2, "shortcut_accuracy": 0.92 + gap / 2,
                              "clean_accuracy": 0.92, "shortcut_gap": gap, "decoy_share": share}
            runs.append(run)
    decoy = dict(_record("decoy_mnist", "Decoy MNIST"), runs=runs, protocol="decoy",
                 command="python jobs/reproduce.py --protocol decoy",
                 k_split=[{"seed": s, "looked": 100 * (s + 1), "samples": 10000,
                           "median_k_looked": 400.0 + s, "median_k_other": 390.0} for s in range(3)],
                 figures={"k_split": "decoy_mnist_k_split.png"})
    page = render_page([_record(), decoy], "results", None)
    ours, shortcuts = page.split("# Shortcuts")
    assert "Decoy MNIST" not in ours and "## Fashion-MNIST" in ours
    assert "## Decoy MNIST" in shortcuts and "python jobs/reproduce.py --protocol decoy" in shortcuts
    # shares in %, the reference view's accuracy without an arrow, the gap and share lower-better
    assert "| Shortcut acc. | Clean acc. ↑ | Shortcut gap ↓ | Decoy share ↓ |" in shortcuts
    assert "| RRR | 10K |" in shortcuts and "0.100 ± 0.000" in shortcuts  # RRR's 0.001 share
    # its claims: the shortcut's columns, RRR as the reference; not the paper's AUC claims
    assert ("| SGT Shortcut gap < Traditional Shortcut gap (↓) (A = Traditional, B = SGT) | "
            "+1.00 points | [+1.00, +1.00] | 3 | holds |") in shortcuts
    assert "| RRR Decoy share < SMOOT Decoy share (↓) (A = SMOOT, B = RRR) | +4.90 points |" in shortcuts
    # and the ablation: does the saliency's choice of what to mask beat masking at random?
    assert ("| SGT Shortcut gap < Random mask Shortcut gap (↓) (A = Random mask, B = SGT) | "
            "-2.00 points | [-2.00, -2.00] | 3 | reversed |") in shortcuts
    assert "| SMOOT Decoy share < Random mask Decoy share (↓)" in shortcuts
    assert "SMOOT AUC < SGT AUC" not in shortcuts and "Shortcut acc. >" not in shortcuts
    # where SMOOT's K went, per seed, and its figure
    assert "| 2 | 10,000 | 300 (3.0%) | 402 | 390 |" in shortcuts
    assert "(median K of the samples whose saliency looked at the patch) minus (the others'): +11.0" in shortcuts
    assert "(results/decoy_mnist_k_split.png)" in shortcuts


def test_a_checkout_names_its_commit_and_gives_it_to_ray_workers():
    """From a source checkout the page records its git commit, and Ray workers get the checkout
    on PYTHONPATH (an installed wheel gives neither: test_wheel.py). The checkout is found from
    smoot_dist/foundations/home.py: moving that module once lost it, and every page said
    `unknown`."""
    import subprocess
    from pathlib import Path

    from smoot_dist.foundations.home import CHECKOUT
    from smoot_dist.reports.results_page import git_commit

    repo = Path(__file__).resolve().parents[2]
    assert CHECKOUT == repo
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True,
                          text=True).stdout.strip()
    if head:  # a checkout without git (an unpacked archive) has no commit to name
        assert git_commit().split()[0] == head

"""evaluate.py, compare.py and reproduce.py on runs made by jobs/train.py."""

import csv
import json
import statistics

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import expect_one_line, mlflow_store, run_job

pytestmark = pytest.mark.integration


def _fake_package(root, name):
    (root / name).mkdir()
    (root / name / "__init__.py").write_text(f"raise ImportError('{name} is not on this machine')\n")


@pytest.mark.slow
def test_reproduce_without_ray_or_mlflow(real_data_root, tmp_path):
    """The GPU machine's path: --workers 0, no Ray, no MLflow installed."""
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    _fake_package(blocked, "ray")
    _fake_package(blocked, "mlflow")
    out = tmp_path / "out"
    page = tmp_path / "docs" / "results.md"
    argv = ("reproduce.py", "--dataset", "fashion_mnist", "--epochs", "1", "--seeds", "2",
            "--train-subset", "500", "--test-subset", "50", "--workers", "0",
            "--methods", "traditional,sgt,smoot,random_mask",
            "--no-tracking", "--attributions", "grad,random", "--metrics", "morf,lerf,mprt,pgd",
            "--storage-path",
            str(tmp_path / "runs"), "--output-dir", str(out), "--no-progress", "--id", "t1",
            "--report", str(page))
    r = run_job(*argv, env={"PYTHONPATH": str(blocked)})
    assert r.returncode == 0, r.stderr[-3000:]
    table = (out / "comparison.md").read_text()
    for title in ("Traditional | 50 | 0 ± 0 | 0 ± 0 | 0 ± 0 |",
                  "SGT | 50 | 392 ± 0 | 392 ± 0 | 392 ± 0 |", "SMOOT | 50 |",
                  "Random mask | 50 | 392 ± 0 | 392 ± 0 | 392 ± 0 |",
                  "| AUC ↓ | SRG ↑ | MPRT ↓ | PGD acc. ↑ | runs",
                  "50 test images, background fill, seed 0; metrics morf, lerf, mprt, pgd"):
        assert title in table, table
    rows = {row["method"]: row for row in csv.DictReader(open(out / "comparison.csv"))}
    assert set(rows) == {"traditional", "sgt", "smoot", "random_mask"}
    for method, row in rows.items():
        summaries, evaluations = [], []
        for seed in (0, 1):
            run_dir = next(p for p in (tmp_path / "runs").iterdir()
                           if p.name.endswith(f"-{method}-s{seed}"))
            summaries.append(json.loads((run_dir / "summary.json").read_text()))
            [record] = [json.loads(p.read_text())
                        for p in (run_dir / "evaluation").glob("*/metrics.json")
                        if not p.parent.name.startswith("closing-")]
            evaluations.append(record["metrics"])
        aucs = [e["auc"]["grad"] for e in evaluations]
        # the table's means are over the two seeds' own numbers
        assert float(row["accuracy_mean"]) == pytest.approx(
            50 * sum(s["test_accuracy"] for s in summaries), abs=1e-3)
        assert float(row["auc_mean"]) == pytest.approx(sum(aucs) / 2, abs=1e-3)
        # SRG = AUC(LeRF) - AUC(MoRF), from both curves of the same evaluation
        assert float(row["srg_mean"]) == pytest.approx(
            sum(e["lerf_auc"]["grad"] - a for e, a in zip(evaluations, aucs)) / 2, abs=1e-3)
        assert float(row["srg_mean"]) == pytest.approx(
            sum(e["srg"]["grad"] for e in evaluations) / 2, abs=1e-3)
        for summary, auc in zip(summaries, aucs):
            # every run ends with its own Grad/Random MoRF AUC on the (50) test images: the
            # same Grad AUC as the fuller evaluation of the same images
            assert summary["auc"]["grad"] == pytest.approx(auc, abs=1e-6)
            assert set(summary["auc"]) == {"grad", "random"}
    assert (out / "drop_curves_fashion_mnist.png").stat().st_size > 0
    assert (out / "saliency_maps_fashion_mnist.png").stat().st_size > 0
    assert "SMOOT |" in r.stdout  # the table is printed

    # the results page: our table, the paper's Table 3, the claims, figures on disk
    text = page.read_text()
    record = json.loads((tmp_path / "docs" / "results" / "fashion_mnist.json").read_text())
    assert {run["method"] for run in record["runs"]} == {"traditional", "sgt", "smoot", "random_mask"}
    smoot = next(run for run in record["runs"] if run["method"] == "smoot")
    smoot_accuracy = sum(run["accuracy"] for run in record["runs"] if run["method"] == "smoot") / 2
    assert f"accuracy {smoot_accuracy:.2f}% here" in text and "The paper's Table 3" in text
    assert "--id t1" in text and "The paper's claims at this scale" in text
    # the battery's columns and claims, each with the direction that counts as better
    assert "| MPRT ↓ | PGD acc. ↑ | seeds |" in text
    assert "| SMOOT MPRT < SGT MPRT (↓) (A = SGT, B = SMOOT) |" in text
    assert "| SGT PGD acc. > Traditional PGD acc. (↑) (A = SGT, B = Traditional) |" in text
    assert [row["epoch"] for row in smoot["k_epochs"]] == [1]
    for figure in ("drop_curves", "k_trajectory", "k_histogram", "saliency", "claims", "mprt"):
        assert f"(results/{record['figures'][figure]})" in text
        assert (tmp_path / "docs" / "results" / record["figures"][figure]).stat().st_size > 0

    # the same command again (as after an interruption) reuses the finished, evaluated runs
    again = run_job(*argv, env={"PYTHONPATH": str(blocked)})
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("(finished before: reused)") == 8
    assert "training " not in again.stdout and "evaluating " not in again.stdout
    assert json.loads((tmp_path / "docs" / "results" / "fashion_mnist.json").read_text())["reused"] == 8
    assert "this command reused 8 of its 8 runs from an earlier one with the same --id" in page.read_text()


@pytest.mark.slow
def test_evaluate_and_compare_from_real_mlflow_runs(real_data_root, tmp_path):
    store = mlflow_store(tmp_path / "mlflow.db")
    common = ["--workers", "0", "--dataset", "fashion_mnist", "--epochs", "1", "--train-subset",
              "500", "--test-subset", "100", "--eval-images", "100", "--tracking-uri", store,
              "--experiment", "cmp",
              "--storage-path", str(tmp_path / "runs"), "--no-progress"]
    summaries = []
    # three runs, two of one method: compare's mean and std over seeds, and a method of its own
    for method, seed in (("sgt", 0), ("smoot", 0), ("smoot", 1)):
        path = tmp_path / f"{method}{seed}.json"
        r = run_job("train.py", *common, "--method", method, "--seed", str(seed),
                    "--run-name", f"{method}-{seed}", "--summary-json", str(path))
        assert r.returncode == 0, r.stderr[-2000:]
        summaries.append(json.loads(path.read_text()))
        assert r.stdout.count("| Accuracy | AUC") == 1  # the final row carries the run's AUC
        assert r.stdout.count("epoch 1/1 ") == 1 and "TrainingReport(" not in r.stdout + r.stderr
    client = MlflowClient(store)
    for s in summaries:  # logged by the training run itself, on its last epoch
        for key in ("auc_grad", "auc_random"):
            [metric] = client.get_metric_history(s["mlflow"]["run_id"], key)
            assert metric.step == 1 and metric.value == pytest.approx(s["auc"][key[4:]])
    for i, s in enumerate(summaries):
        # by folder for some, by MLflow run id (artifacts downloaded) for the others
        source = s["run_dir"] if i % 2 == 0 else s["mlflow"]["run_id"]
        r = run_job("evaluate.py", source, "--methods", "grad", "--test-subset", "100",
                    "--tracking-uri", store, "--no-progress")
        assert r.returncode == 0, r.stderr[-2000:]
        assert "Downloading artifacts" not in r.stderr  # MLflow's bars stay off
        run = client.get_run(s["mlflow"]["run_id"])
        # one record per protocol: the evaluation's keys carry its protocol id, and the
        # closing evaluation's auc_grad is still the training run's own (MLflow's system/...
        # metrics: sampled every 10 s, so a run slowed by a busy machine has them too)
        [protocol_id] = {k.split("/")[0] for k in run.data.metrics
                         if "/" in k and not k.startswith("system/")}
        assert run.data.metrics["auc_grad"] == pytest.approx(s["auc"]["grad"])
        assert f"{protocol_id}/auc_grad" in run.data.metrics
        assert f"smoot.evaluation.{protocol_id}" in run.data.tags
        assert {f"evaluation/{protocol_id}"} <= {
            a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}

    out = tmp_path / "cmp"
    r = run_job("compare.py", "--tracking-uri", store, "--experiment", "cmp", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Downloading artifacts" not in r.stderr
    rows = {row["method"]: row for row in csv.DictReader(open(out / "comparison.csv"))}
    assert {m: int(row["runs"]) for m, row in rows.items()} == {"sgt": 1, "smoot": 2}
    smoot_acc = [100 * s["test_accuracy"] for s in summaries if s["method"] == "smoot"]
    assert float(rows["smoot"]["accuracy_mean"]) == pytest.approx(statistics.fmean(smoot_acc), abs=1e-3)
    assert float(rows["smoot"]["accuracy_std"]) == pytest.approx(statistics.stdev(smoot_acc), abs=1e-3)
    # the table shows the evaluation all runs share (evaluate.py's), the same value as MLflow's
    smoot_auc = [client.get_run(s["mlflow"]["run_id"]).data.metrics[f"{protocol_id}/auc_grad"]
                 for s in summaries if s["method"] == "smoot"]
    assert float(rows["smoot"]["auc_mean"]) == pytest.approx(statistics.fmean(smoot_auc), abs=1e-3)
    assert {row["evaluation"] for row in rows.values()} == {protocol_id}
    assert float(rows["sgt"]["k_median_mean"]) == 392
    text = (out / "comparison.md").read_text()
    assert " ± " in text and f"From evaluation {protocol_id}: 100 test images, background fill" in text
    # --evaluation picks the closing one: the training runs' own AUCs (into a folder of its
    # own: the first comparison's files are never written over)
    [closing] = {p.name for p in (tmp_path / "runs").glob("*/evaluation/closing-*")}
    r = run_job("compare.py", "--tracking-uri", store, "--experiment", "cmp", "--output-dir",
                str(out), "--evaluation", closing)
    expect_one_line(r, "already holds files, which this job never writes over")
    out = tmp_path / "cmp-closing"
    r = run_job("compare.py", "--tracking-uri", store, "--experiment", "cmp", "--output-dir",
                str(out), "--evaluation", closing)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {row["method"]: row for row in csv.DictReader(open(out / "comparison.csv"))}
    assert float(rows["smoot"]["auc_mean"]) == pytest.approx(
        statistics.fmean(s["auc"]["grad"] for s in summaries if s["method"] == "smoot"), abs=1e-3)
    # (an id no run has: one line, tests/unit/test_evaluation_records.py)


# (The evaluation fanned out as Ray tasks equals the one in process: test_elastic.py, on two
# nodes that share no disk.)


def test_evaluate_rejects_unknown_methods_and_runs(tmp_path):
    r = run_job("evaluate.py", str(tmp_path), "--methods", "grad,lime")
    assert r.returncode == 2 and "unknown attribution method(s) lime in --methods" in r.stderr
    r = run_job("evaluate.py", "no-such-run", env={"SMOOT_HOME": str(tmp_path)})
    assert r.returncode == 2 and "neither a run folder" in r.stderr
    r = run_job("evaluate.py", str(tmp_path), "--metrics", "morf,sideways")
    assert r.returncode == 2 and "unknown metric(s) sideways in --metrics" in r.stderr
    r = run_job("evaluate.py", str(tmp_path), "--removal-fill", "blur")
    assert r.returncode == 2 and "unknown --removal-fill 'blur'" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_motivation_experiment_trains_and_counts(real_data_root, tmp_path):
    r = run_job("motivation.py", "--dataset", "fashion_mnist", "--epochs", "1", "--train-subset",
                "1000", "--test-subset", "300", "--output-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads((tmp_path / "motivation.json").read_text())
    rows = list(csv.DictReader(open(tmp_path / "curves.csv")))
    assert result["num_images"] == len(rows) == 300
    assert result["rise_then_fall"] == sum(int(row["class_ii"]) for row in rows)
    assert 0 < result["share_rise_then_fall"] < 0.5  # some, not most (measured ~0.15 here)
    for row in rows:  # the class is what the curve shows
        p = [float(row[f"p_at_{d:g}"]) for d in result["fractions"]]
        peak = max(p)
        expected = p.index(peak) > 0 and peak - p[0] > 0.01 and peak - p[-1] > 0.01
        assert int(row["class_ii"]) == int(expected)
    assert (tmp_path / "motivation.png").stat().st_size > 0

"""A new metric or attribution method is one declaration: a toy metric and a toy method,
registered here and nowhere else, appear in every place that lists or records them: each job's
--help, the evaluation record, the run's MLflow keys, compare's table and the results page."""

import json
import os

import mlflow
import pytest
import torch
from mlflow.tracking import MlflowClient

from smoot_dist.attribution import register_attribution
from smoot_dist.attribution import registry as attribution_registry
from smoot_dist.cli.flags import build_parser
from smoot_dist.cli import evaluate, explain, reproduce
from smoot_dist.config import build_config
from smoot_dist.evaluation.trained_run import load_trained
from smoot_dist.workflows.evaluate import evaluate_run
from smoot_dist.workflows.train import run_training
from smoot_dist.metrics import Column, Metric, register_metric
from smoot_dist.metrics import registry as metric_registry
from smoot_dist.reports.comparison_report import compare_and_report
from smoot_dist.reports.results_page import run_entry
from smoot_dist.reports.results_tables import our_table
from tests.conftest import mlflow_store


@pytest.fixture
def toys(monkeypatch):
    """The toy metric `toy_mean` (each map's mean, higher better) and the toy method `toy_ones`
    (a map of ones), declared for this test only (the registries are restored after it)."""
    monkeypatch.setattr(metric_registry, "_METRICS", dict(metric_registry._METRICS))
    monkeypatch.setattr(attribution_registry, "_METHODS", dict(attribution_registry._METHODS))
    register_metric(Metric("toy_mean", "complexity", "a toy: the map's mean",
                           (Column("toy_mean", "Toy mean", True),),
                           per_method=lambda maps: {"toy_mean": maps.a.mean(dim=1)}))

    @register_attribution("toy_ones", "ToyOnes")
    def _ones(model, build):
        return lambda x, y: torch.ones(x.shape[0], x.shape[2] * x.shape[3])


def test_a_toy_metric_and_method_reach_every_place_without_another_edit(
        toys, real_data_root, tmp_path, monkeypatch):
    for job, names in ((evaluate, ("toy_mean", "toy_ones")), (reproduce, ("toy_mean", "toy_ones")),
                       (explain, ("toy_ones",))):
        text = " ".join(build_parser(job.FLAGS).format_help().split())
        assert all(name in text for name in names), (job.__name__, text)

    uri = mlflow_store(tmp_path / "mlflow.db")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run_training(build_config(overrides={
        "data": {"dataset": "fashion_mnist", "train_subset": 256, "test_subset": 100},
        "method": {"name": "smoot"}, "train": {"epochs": 1, "device": "cpu", "eval_images": 0},
        "run": {"workers": 0, "run_name": "toy", "storage_path": str(tmp_path / "runs"),
                "progress": False},
        "tracking": {"uri": uri}}))
    # logging the model points MLflow's fluent API at the store, which exports the variable to
    # the whole process; the job puts it back (else every later job here would track there)
    assert "MLFLOW_TRACKING_URI" not in os.environ
    # ... nor does MLflow keep the store pinned in the process, above the variable
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert mlflow.get_tracking_uri() == "sqlite:///elsewhere.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    run = load_trained(str(tmp_path / "runs" / "toy"), uri)
    result = evaluate_run(run, ["grad", "toy_ones"], metrics=("morf", "toy_mean"),
                          test_subset=100, device="cpu", batch_size=50)
    record = result["record"]
    assert record.protocol.metrics == ("morf", "toy_mean")
    on_disk = json.loads((tmp_path / "runs" / "toy" / "evaluation" / record.id
                          / "metrics.json").read_text())
    assert on_disk["metrics"]["toy_mean"]["toy_ones"] == pytest.approx(1.0)
    assert 0 < on_disk["metrics"]["toy_mean"]["grad"] < 1  # |gradient|s, not ones
    assert "ToyOnes" in result["table"] and "toy_mean ↑" in result["table"]

    logged = MlflowClient(uri).get_run(run.mlflow_run_id).data.metrics
    assert logged[f"{record.id}/toy_mean_toy_ones"] == pytest.approx(1.0)
    assert f"{record.id}/auc_toy_ones" in logged

    table = compare_and_report(tmp_path / "compared", folders=[tmp_path / "runs" / "toy"],
                               auc_method="toy_ones", figure_images=0)
    assert "Toy mean ↑" in table and "1.000" in table, table

    entry = run_entry(tmp_path / "runs" / "toy", record.id, "toy_ones")
    assert entry["battery"]["toy_mean"] == pytest.approx(1.0)
    page = "\n".join(our_table({"title": "Fashion-MNIST", "runs": [entry]}))
    assert "Toy mean ↑" in page and "1.000" in page, page

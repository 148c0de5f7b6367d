"""What a tracking outage leaves in an MLflow run: the step metrics it missed are named in the
run once the store answers again (epochs are backfilled by the next run of the command)."""

from mlflow.tracking import MlflowClient

from smoot_dist.foundations.uris import without_credentials
from smoot_dist.runs.tracking import MlflowRun


def test_steps_missed_in_an_outage_are_named_in_the_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = MlflowRun.open(uri, "gap", None, "smoot_dist")
    run.step_metrics({"loss": 1.0}, 10)
    run.failing = True  # the store stopped answering (attempt() set this after its warning)
    run.step_metrics({"loss": 0.9}, 20)
    run.step_metrics({"loss": 0.8}, 30)
    # the store answers again (an epoch went through), and the next step's metrics are logged
    assert run.attempt("an epoch", run.log_metrics, {"test_accuracy": 0.5}, 1)
    run.step_metrics({"loss": 0.7}, 40)
    client = MlflowClient(uri)
    assert [m.step for m in client.get_metric_history(run.run_id, "loss")] == [10, 40]
    tag = client.get_run(run.run_id).data.tags["smoot.step_metrics_missing"]
    assert tag.startswith("steps 20-30 (the tracking store did not answer")
    # a second outage, open at the run's end: said when the run is marked finished
    run.failing = True
    run.step_metrics({"loss": 0.6}, 50)
    run.failing = False
    run.finish("FINISHED")
    tag = client.get_run(run.run_id).data.tags["smoot.step_metrics_missing"]
    assert tag.startswith("steps 20-30; step 50 (")


def test_a_recorded_tracking_uri_holds_no_credentials():
    assert without_credentials("https://me:secret@mlflow.example:5000/x") == \
        "https://mlflow.example:5000/x"
    assert without_credentials("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"

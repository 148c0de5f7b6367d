"""What a rerun of a training command means, when the run folder is not what the run left
(the second hostile pass, items 2, 6, 7, 8, 12): a damaged checkpoint is kept as evidence, a
history that lies is not trusted, lost checkpoints are not silently trained again, fewer epochs
are refused, and MLflow gets each epoch once."""

import json
import shutil

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import expect_one_line, run_job

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """One SMOOT_HOME (one MLflow store) for the module: a fresh store costs seconds of
    migrations, and the tests tell their runs apart by name."""
    return tmp_path_factory.mktemp("home")


def _train(tmp_path, home, *args, name="r"):
    return run_job("train.py", "--workers", "0", "--train-subset", "200", "--test-subset", "100",
                   "--eval-images", "100", "--no-progress", "--run-name", name,
                   "--storage-path", str(tmp_path / "runs"),
                   "--summary-json", str(tmp_path / f"{name}.json"), *args,
                   env={"SMOOT_HOME": str(home)})


def _ok(r):
    assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-2000:]
    return r


def _mlflow(home, name):
    """(client, the MLflow runs named `name`, deleted ones too, {run id: logged epochs})."""
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("smoot_dist").experiment_id],
                              f"attributes.run_name = '{name}'", run_view_type=3)
    steps = {r.info.run_id: [m.step for m in client.get_metric_history(r.info.run_id, "test_accuracy")]
             for r in runs}
    return client, runs, steps


def _files(run):
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != "run.lock"}


@pytest.mark.slow
def test_a_damaged_checkpoint_is_kept_aside_and_each_epoch_reaches_mlflow_once(real_data_root, tmp_path,
                                                                             home):
    _ok(_train(tmp_path, home, "--epochs", "2", name="damaged"))
    run = tmp_path / "runs" / "damaged"
    state = run / "checkpoint_epoch_0002" / "state.pt"
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    state.write_bytes(bytes(data))
    r = _ok(_train(tmp_path, home, "--epochs", "4", name="damaged"))
    kept = run / "checkpoint_epoch_0002.damaged"
    assert (f"warning: skipping damaged checkpoint checkpoint_epoch_0002 (state.pt was altered or "
            f"truncated: its sha256 is not the one recorded); kept as {kept}; resuming from "
            f"checkpoint_epoch_0001 (epoch 1)") in r.stdout
    # epochs 2, 3, 4 were written and pruned beside it: the evidence is still there, unchanged
    assert (kept / "state.pt").read_bytes() == bytes(data)
    assert sorted(p.name for p in run.glob("checkpoint_*")) == [
        "checkpoint_epoch_0002.damaged", "checkpoint_epoch_0003", "checkpoint_epoch_0004"]
    summary = json.loads((tmp_path / "damaged.json").read_text())
    assert [e["epoch"] for e in summary["epochs"]] == [1, 2, 3, 4]
    # MLflow had epoch 2 from the first attempt: it keeps that one, and says so; no step twice
    assert "has epochs 2-2 from before the checkpoint this run resumes from (epoch 1)" in r.stdout
    _client, (mlrun,), steps = _mlflow(home, "damaged")
    assert sorted(steps[mlrun.info.run_id]) == [1, 2, 3, 4]
    # the extension 2 -> 4 is on the MLflow run (its params cannot change)
    assert mlrun.data.params["train.epochs"] == "2"
    assert (mlrun.data.tags["train.epochs"], mlrun.data.tags["smoot.epochs_extended"]) == ("4", "2->4")
    # fewer epochs than trained: refused, and nothing changes (config.yaml still says 4)
    before = _files(run)
    expect_one_line(_train(tmp_path, home, "--epochs", "1", name="damaged"),
                    "run 'damaged' has already trained 4 epochs; give --epochs 4 or more to "
                    "continue it, or a new --run-name")
    assert _files(run) == before


@pytest.mark.slow
def test_a_history_that_lies_about_its_epochs_is_damage(real_data_root, tmp_path, home):
    _ok(_train(tmp_path, home, "--epochs", "2", "--no-tracking"))
    history = tmp_path / "runs" / "r" / "checkpoint_epoch_0002" / "history.json"
    record = json.loads(history.read_text())
    record["history"] += [record["history"][-1]] * 2  # two copies of the last entry appended
    history.write_text(json.dumps(record))
    r = _ok(_train(tmp_path, home, "--epochs", "4", "--no-tracking"))
    assert ("skipping damaged checkpoint checkpoint_epoch_0002 (history.json lists epochs "
            "[1,2,2,2], not 1 to 4 once each)") in r.stdout
    summary = json.loads((tmp_path / "r.json").read_text())
    assert [e["epoch"] for e in summary["epochs"]] == [1, 2, 3, 4]  # not [1, 2, 3, 4, 3, 4]
    assert [x["epoch"] for x in summary["resumes"]] == [1]


@pytest.mark.slow
def test_a_run_whose_checkpoints_were_moved_away_is_not_trained_again_silently(real_data_root, tmp_path,
                                                                             home):
    _ok(_train(tmp_path, home, "--epochs", "2", name="moved"))
    run = tmp_path / "runs" / "moved"
    for checkpoint in run.glob("checkpoint_epoch_*"):
        shutil.move(str(checkpoint), str(tmp_path / checkpoint.name))
    before = _files(run)
    client, (first,), _steps = _mlflow(home, "moved")
    r = _train(tmp_path, home, "--epochs", "2", name="moved")
    expect_one_line(r, f"run 'moved' has a run record but no checkpoint in {run} (its MLflow run "
                       f"{first.info.run_id} has epochs 1-2); put its checkpoints back to continue "
                       f"it, or pass --restart")
    assert _files(run) == before
    again = _ok(_train(tmp_path, home, "--epochs", "2", "--restart", name="moved"))
    assert (f"restarting run moved from epoch 1 (its earlier MLflow run {first.info.run_id} is "
            f"kept)") in again.stdout
    _client, runs, steps = _mlflow(home, "moved")
    (new,) = [x for x in runs if x.info.run_id != first.info.run_id]
    assert sorted(steps[first.info.run_id]) == [1, 2] == sorted(steps[new.info.run_id])
    assert new.data.tags["smoot.restart_of"] == first.info.run_id
    record = json.loads((run / "run.json").read_text())
    assert record["mlflow_run_id"] == new.info.run_id
    assert record["restarts"][0]["earlier_mlflow_run_id"] == first.info.run_id
    expect_one_line(_train(tmp_path, home, "--epochs", "2", "--restart", name="moved"),
                    "--restart: run 'moved' still has checkpoints (the newest holds epoch 2)")
    # an MLflow run deleted in the UI: the resume says it starts another, with the whole history
    client.delete_run(new.info.run_id)
    r = _ok(_train(tmp_path, home, "--epochs", "3", name="moved"))
    assert (f"note: this run's MLflow run {new.info.run_id} is not in sqlite:///{home / 'mlflow.db'} "
            f"any more (deleted?); a new MLflow run takes its place") in r.stdout
    _client, runs, steps = _mlflow(home, "moved")
    (latest,) = [x for x in runs if x.info.run_id not in (first.info.run_id, new.info.run_id)]
    assert latest.info.status == "FINISHED" and sorted(steps[latest.info.run_id]) == [1, 2, 3]

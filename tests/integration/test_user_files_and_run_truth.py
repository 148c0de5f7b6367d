"""The third hostile pass (explain, resume, records, sweeps): nothing the user made is written
over, a name read from a record is checked before it names a folder, a run has one config,
and every bad input is one line. Each test failed on the main before this pass."""

import json
import math
import shutil
import time

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from tests.conftest import expect_one_line, mlflow_store, run_job

pytestmark = pytest.mark.integration

TINY = ("--workers", "0", "--train-subset", "300", "--test-subset", "200", "--eval-images", "0",
        "--epochs", "1", "--no-progress")


@pytest.fixture(scope="module")
def tiny(real_data_root, tmp_path_factory):
    """A finished tiny run tracked in its own store A.db (not $SMOOT_HOME's); tests that change
    it work on copies (`_copy`)."""
    home = tmp_path_factory.mktemp("home")
    store = mlflow_store(home / "A.db")
    r = run_job("train.py", *TINY, "--run-name", "tiny", "--tracking-uri", store,
                env={"SMOOT_HOME": str(home)})
    assert r.returncode == 0, r.stderr[-3000:]
    return {"home": home, "store": store, "run": home / "runs" / "tiny",
            "env": {"SMOOT_HOME": str(home)}}


def _copy(tiny, tmp_path, name):
    """A copy of the tiny run under a SMOOT_HOME of this test's own, named `name`."""
    runs = tmp_path / "runs"
    runs.mkdir(exist_ok=True)
    shutil.copytree(tiny["run"], runs / name)
    record = json.loads((runs / name / "run.json").read_text())
    (runs / name / "run.json").write_text(json.dumps({**record, "name": name}))
    return runs / name, {"SMOOT_HOME": str(tmp_path)}


def _images(folder, n=3):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(folder / f"i{i}.png")
    return folder


def _tree(folder):
    """A snapshot of every file under `folder` with its bytes."""
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_explain_never_writes_over_a_users_files(tiny, tmp_path):
    images = _images(tmp_path / "imgs")
    mine = tmp_path / "o"
    mine.mkdir()
    (mine / "grid.png").write_text("mine")
    (mine / "explanations.csv").write_text("mine")
    before = _tree(tmp_path)
    for out, message in [
            (mine, "already holds files, which this job never writes over"),
            (images, "is the input folder"),
            (images / "sub", "is inside the input folder"),
            (mine / "grid.png", "is a file, not a folder"),
            (mine / "grid.png" / "x", "grid.png, which is a file; give a folder")]:
        r = run_job("explain.py", str(tiny["run"]), str(images), "--output-dir", str(out),
                    env=tiny["env"])
        expect_one_line(r, message)
    assert _tree(tmp_path) == before  # nothing written, nothing replaced, nothing left over

    # a new folder: filled under a temporary sibling, renamed in when complete; an empty one too
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "new" / "deep", tmp_path / "empty"):
        r = run_job("explain.py", str(tiny["run"]), str(images), "--output-dir", str(out),
                    env=tiny["env"])
        assert r.returncode == 0, r.stderr[-2000:]
        assert sorted(p.name for p in out.iterdir()) == [
            "000-i0.png", "001-i1.png", "002-i2.png", "explanations.csv", "grid.png"]
        assert not list(out.parent.glob(".*partial*"))


def test_a_run_name_from_a_record_never_leaves_its_folder(tiny, tmp_path):
    images = _images(tmp_path / "imgs")
    run, env = _copy(tiny, tmp_path, "named")
    record = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**record, "name": "../../escaped"}))
    r = run_job("explain.py", str(run), str(images), env=env)
    expect_one_line(r, "the run name '../../escaped' recorded in")
    # the same through MLflow: a run renamed in the store
    client = MlflowClient(tiny["store"])
    run_id = json.loads((tiny["run"] / "run.json").read_text())["mlflow_run_id"]
    client.update_run(run_id, name="../../escaped")
    try:
        r = run_job("explain.py", run_id, str(images), "--tracking-uri", tiny["store"], env=env)
        expect_one_line(r, f"the run name '../../escaped' recorded in MLflow run {run_id}")
    finally:
        client.update_run(run_id, name="tiny")
    assert not list(tmp_path.parent.glob("escaped*")) and not list(tmp_path.glob("escaped*"))


@pytest.mark.slow
def test_a_run_has_one_config_and_every_reader_checks_it(tiny, tmp_path):
    # config.yaml edited: evaluate and resume refuse it, naming what differs
    run, env = _copy(tiny, tmp_path, "yaml")
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text.replace("dataset: fashion_mnist", "dataset: mnist"))
    for job in (("evaluate.py", str(run), "--metrics", "morf", "--methods", "grad",
                "--test-subset", "100"),
                ("train.py", "--resume", "yaml", "--epochs", "2", "--no-tracking")):
        r = run_job(*job, env=env)
        expect_one_line(r, "config.yaml was edited (data.dataset was 'fashion_mnist', now "
                           "'mnist')")
    assert "dataset: mnist" in (run / "config.yaml").read_text()  # the edit is not rewritten
    # run.json edited: the same, and nothing trains
    run, env = _copy(tiny, tmp_path, "json")
    record = json.loads((run / "run.json").read_text())
    record["config"]["data"]["dataset"] = "mnist"
    (run / "run.json").write_text(json.dumps(record))
    for job in (("evaluate.py", str(run), "--metrics", "morf", "--methods", "grad",
                "--test-subset", "100"),
                ("train.py", "--resume", "json", "--epochs", "2", "--no-tracking")):
        r = run_job(*job, env=env)
        expect_one_line(r, "run.json was edited (data.dataset was 'fashion_mnist', now 'mnist')")
    assert not (run / "checkpoint_epoch_0002").exists()
    # both edited and the digests made to match: the summary still says what it trained on
    run, env = _copy(tiny, tmp_path, "both")
    from smoot_dist.runs.folder import CONFIG_DIGEST, config_digest
    import yaml

    record = json.loads((run / "run.json").read_text())
    record["config"]["data"]["dataset"] = "mnist"
    record[CONFIG_DIGEST] = config_digest(record["config"])
    (run / "run.json").write_text(json.dumps(record))
    (run / "config.yaml").write_text(f"# {CONFIG_DIGEST}: {record[CONFIG_DIGEST]}\n"
                                     + yaml.safe_dump(record["config"]))
    r = run_job("evaluate.py", str(run), "--metrics", "morf", "--methods", "grad",
                "--test-subset", "100", env=env)
    expect_one_line(r, "names the dataset mnist, but the run trained on fashion_mnist")
    # ... and a resume, the checkpoint (which records the data it was trained on)
    r = run_job("train.py", "--resume", "both", "--epochs", "2", "--no-tracking", env=env)
    expect_one_line(r, "checkpoint_epoch_0001 was trained with dataset 'fashion_mnist', but the "
                       "run's config gives 'mnist'")
    assert not (run / "checkpoint_epoch_0002").exists()


@pytest.mark.slow
def test_resume_keeps_the_run_its_store_and_logs_the_model_once(real_data_root, tmp_path):
    env = {"SMOOT_HOME": str(tmp_path)}
    store = mlflow_store(tmp_path / "B.db")
    r = run_job("train.py", *TINY, "--run-name", "kept", "--tracking-uri", store, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "runs" / "kept"
    # --resume A --run-name B: which run is meant? one line
    r = run_job("train.py", "--resume", "kept", "--run-name", "other", env=env)
    expect_one_line(r, "--resume kept and --run-name other name two runs")
    original = json.loads((run / "run.json").read_text())["mlflow_run_id"]
    for _ in range(2):  # trains epoch 2, then nothing more: no --tracking-uri typed again
        r = run_job("train.py", "--resume", "kept", "--epochs", "2", "--no-progress", env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        assert f"MLflow run {original} in {store}" in r.stdout
    assert not (tmp_path / "mlflow.db").exists()  # not $SMOOT_HOME's default store
    assert json.loads((run / "run.json").read_text())["mlflow_run_id"] == original
    client = MlflowClient(store)
    assert sorted(m.step for m in client.get_metric_history(original, "test_accuracy")) == [1, 2]
    assert "already holds the model of this trained state" in r.stdout  # once per state
    assert len(client.get_run(original).data.tags["smoot.model_sha256"]) == 64


def test_values_that_cannot_be_trained_are_refused_before_anything_is_made(real_data_root,
                                                                          tmp_path):
    r = run_job("train.py", "--lr", "1e39", *TINY, "--no-tracking",
                env={"SMOOT_HOME": str(tmp_path)})
    expect_one_line(r, "lr 1e+39 does not fit the 32-bit floats training computes in")
    space = tmp_path / "space.yaml"
    space.write_text("method: smoot\nn: {choice: [2, 500]}\n")
    started = time.time()
    r = run_job("../tune/sweep.py", "--search-space", str(space), "--num-samples", "2",
                "--train-subset", "300", "--no-tracking", env={"SMOOT_HOME": str(tmp_path)})
    expect_one_line(r, "n in the search space takes 500, more than the 10 classes of "
                       "Fashion-MNIST")
    assert time.time() - started < 60 and "Ray" not in r.stdout  # before any Ray starts
    assert [p.name for p in tmp_path.iterdir()] == ["space.yaml"]  # nothing made


def test_deep_images_are_scaled_by_their_depth_or_refused(tiny, tmp_path):
    from smoot_dist.data.image_folder import read_image

    ramp = np.linspace(0, 65535, 28 * 28).reshape(28, 28).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")  # 16-bit grey
    pixels = read_image(tmp_path / "deep.png", 1, 28)[0]
    assert np.array_equal(pixels, np.rint(ramp / 257.0).astype(np.uint8))  # not 99.5% white
    Image.fromarray(ramp.astype(np.int32) * 1000).save(tmp_path / "wide.tif")  # 32-bit
    r = run_job("explain.py", str(tiny["run"]), str(tmp_path / "deep.png"), "--output-dir",
                str(tmp_path / "out"), env=tiny["env"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "(converted 16-bit -> 8-bit)" in r.stdout
    r = run_job("explain.py", str(tiny["run"]), str(tmp_path / "wide.tif"), "--output-dir",
                str(tmp_path / "out2"), env=tiny["env"])
    expect_one_line(r, "wide.tif has 32-bit integer pixels, which have no fixed range")
    # the same reader serves image-folder training: a 32-bit image there is one line too
    tree = tmp_path / "tree"
    for c in ("a", "b"):
        _images(tree / c, 4)
    shutil.copy(tmp_path / "wide.tif", tree / "a" / "wide.tif")
    r = run_job("train.py", "--dataset", f"imagefolder:{tree}", "--workers", "0", "--epochs", "1",
                "--eval-images", "0", "--no-tracking", env={"SMOOT_HOME": str(tmp_path / "h")})
    expect_one_line(r, "wide.tif has 32-bit integer pixels")


@pytest.mark.slow
def test_explain_says_what_it_left_out_and_streams(tiny, tmp_path):
    labelled = tmp_path / "labelled"
    _images(labelled / "0", 34)
    _images(labelled / "1", 34)
    _images(labelled, 2)  # loose, beside the class subfolders
    r = run_job("explain.py", str(tiny["run"]), str(labelled), "--limit", "100", "--output-dir",
                str(tmp_path / "out"), env=tiny["env"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "note: 2 image(s) beside the class subfolders have no class" in r.stdout
    # 64 images a batch: each batch's figures written before the next batch is read
    assert "explained 64/70 images" in r.stdout and "explained 70/70 images" in r.stdout
    rows = (tmp_path / "out" / "explanations.csv").read_text().splitlines()
    assert len(rows) == 1 + 70 and len(list((tmp_path / "out").glob("0*.png"))) == 70
    r = run_job("explain.py", str(tiny["run"]), str(labelled), "--limit", "3", "--methods", "all",
                "--output-dir", str(tmp_path / "out2"), env=tiny["env"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "note: --limit 3: explaining the first 3 of 70 images" in r.stdout
    assert "note: --methods all leaves out gradient_shap, deeplift_shap" in r.stdout


def test_damaged_evaluation_records_are_named_never_averaged(tiny, tmp_path):
    good, env = _copy(tiny, tmp_path, "good")
    r = run_job("evaluate.py", str(good), "--metrics", "morf", "--methods", "grad",
                "--test-subset", "100", "--no-tracking",
                env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    (record,) = [p for p in (good / "evaluation").glob("*/metrics.json")]
    protocol = record.parent.name
    bad = tmp_path / "runs" / "bad"
    shutil.copytree(good, bad)
    data = json.loads(record.read_text())
    data["metrics"]["auc"]["grad"] = math.nan
    (bad / "evaluation" / protocol / "metrics.json").write_text(json.dumps(data))
    truncated = tmp_path / "runs" / "cut"
    shutil.copytree(good, truncated)
    text = record.read_text()
    (truncated / "evaluation" / protocol / "metrics.json").write_text(text[: len(text) // 2])
    r = run_job("compare.py", "--runs", str(good), str(bad), str(truncated), "--evaluation",
                protocol, "--output-dir", str(tmp_path / "cmp"), env=env)
    assert r.returncode == 0 and "Traceback" not in r.stdout + r.stderr, r.stderr[-3000:]
    assert (f"warning: {bad / 'evaluation' / protocol / 'metrics.json'} is damaged (a non-finite "
            f"value at auc.grad)") in r.stdout
    assert (f"warning: {truncated / 'evaluation' / protocol / 'metrics.json'} is damaged (not "
            f"valid JSON)") in r.stdout
    assert "nan" not in (tmp_path / "cmp" / "comparison.md").read_text().lower()
    assert (bad / "evaluation" / protocol / "metrics.json").exists()  # kept, never deleted


@pytest.mark.slow
def test_the_same_protocol_evaluated_again_logs_each_metric_once(tiny, tmp_path):
    run, env = _copy(tiny, tmp_path, "twice")
    run_id = json.loads((run / "run.json").read_text())["mlflow_run_id"]
    for _ in range(2):
        r = run_job("evaluate.py", str(run), "--metrics", "morf", "--methods", "grad",
                "--test-subset", "100", env=env)
        assert r.returncode == 0, r.stderr[-2000:]
    client = MlflowClient(tiny["store"])
    keys = [k for k in client.get_run(run_id).data.metrics if k.endswith("auc_grad") and "/" in k]
    assert keys
    for key in keys:
        assert len(client.get_metric_history(run_id, key)) == 1, key

"""A run on S3-compatible storage (moto's server on 127.0.0.1): the whole run folder lives at its
storage path, and another machine (an empty SMOOT_HOME) continues it from there alone."""

import csv
import json

import numpy as np
import pyarrow.fs
import pytest
from PIL import Image

from tests.conftest import expect_one_line, run_job

pytestmark = pytest.mark.integration


def _objects(uri, env, monkeypatch):
    """{key under the storage path: bytes} of every object there."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    fs, base = pyarrow.fs.FileSystem.from_uri(uri)
    infos = fs.get_file_info(pyarrow.fs.FileSelector(base, recursive=True))
    return {i.path[len(base) + 1:]: fs.open_input_stream(i.path).read()
            for i in infos if i.type == pyarrow.fs.FileType.File}


@pytest.mark.slow
def test_a_run_lives_on_s3_and_another_machine_continues_it(real_data_root, ray_cluster, s3_server,
                                                            tmp_path, monkeypatch):
    uri = s3_server.uri("bucket", "runs")
    common = ("--workers", "1", "--train-subset", "300", "--test-subset", "100", "--eval-images",
              "50", "--no-tracking", "--no-progress", "--storage-path", uri,
              "--ray-address", ray_cluster["address"])
    env_a = {**ray_cluster["env"], **s3_server.env, "SMOOT_HOME": str(tmp_path / "a")}
    r = run_job("train.py", *common, "--epochs", "1", "--run-name", "s3run", env=env_a)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    objects = _objects(uri, s3_server.env, monkeypatch)
    run = {k[len("s3run/"):]: v for k, v in objects.items() if k.startswith("s3run/")}
    [closing] = {k.split("/")[1] for k in run if k.startswith("evaluation/")}
    mirrored = {"run.json", "config.yaml", "summary.json", "model.pt", "mask_state.parquet",
                "k_histogram.png", f"evaluation/{closing}/metrics.json",
                f"evaluation/{closing}/metrics.csv"}
    assert mirrored <= set(run), sorted(run)
    assert any(k.startswith("checkpoint_") and k.endswith("/state.pt") for k in run)  # Ray's
    assert "run.lock" not in run
    # the objects are the local folder's files, byte for byte: that folder is only a cache
    cache = tmp_path / "a" / "remote"
    [folder] = list(cache.glob("s3/*/s3run"))
    for rel in mirrored:
        assert (folder / rel).read_bytes() == run[rel], rel
    # the credentials appear in no record and no output
    for text in (r.stdout, r.stderr, *(run[k].decode() for k in ("run.json", "config.yaml",
                                                                    "summary.json"))):
        assert s3_server.env["AWS_SECRET_ACCESS_KEY"] not in text
    first = json.loads(run["summary.json"])

    # another machine, nothing local: the run, named, continues from the storage path alone
    env_b = {**env_a, "SMOOT_HOME": str(tmp_path / "b")}
    r = run_job("train.py", "--resume", "s3run", *common, "--epochs", "2", env=env_b)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "(resuming)" in r.stdout
    summary = json.loads(_objects(uri, s3_server.env, monkeypatch)["s3run/summary.json"])
    assert len(summary["epochs"]) == 2 and summary["epochs"][0] == first["epochs"][0]
    assert summary["resumes"] == [{"epoch": 1, "workers": 1, "k_sha256": first["k_sha256"]}]
    assert summary["run_dir"].startswith(str(tmp_path / "b"))
    assert not (tmp_path / "b" / "runs").exists()  # nothing went to the local runs root

    # a third machine evaluates, explains and compares the run from the storage path alone
    env_c = {**env_a, "SMOOT_HOME": str(tmp_path / "c")}
    r = run_job("evaluate.py", "s3run", "--storage-path", uri, "--methods", "grad",
                "--metrics", "morf", "--test-subset", "50", "--no-tracking", env=env_c)
    assert r.returncode == 0, r.stderr[-3000:]
    objects = _objects(uri, s3_server.env, monkeypatch)
    [protocol] = {k.split("/")[2] for k in objects
                  if k.startswith("s3run/evaluation/") and not k.split("/")[2].startswith("closing-")}
    record = json.loads(objects[f"s3run/evaluation/{protocol}/metrics.json"])
    assert record["num_images"] == 50 and record["run"] == "s3run"
    image = tmp_path / "mine" / "img.png"
    image.parent.mkdir()
    Image.fromarray(np.arange(784, dtype=np.uint8).reshape(28, 28) % 255).save(image)
    r = run_job("explain.py", "s3run", str(image.parent), "--storage-path", uri, "--output-dir",
                str(tmp_path / "explained"), env=env_c)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "explained" / "explanations.csv").is_file()
    r = run_job("compare.py", "--runs", "s3run", "--storage-path", uri, "--evaluation", protocol,
                "--output-dir", str(tmp_path / "compared"), "--figure-images", "0", env=env_c)
    assert r.returncode == 0, r.stderr[-3000:]
    [row] = csv.DictReader(open(tmp_path / "compared" / "comparison.csv"))
    assert float(row["accuracy_mean"]) == pytest.approx(100 * summary["test_accuracy"], abs=1e-3)
    assert float(row["auc_mean"]) == pytest.approx(record["metrics"]["auc"]["grad"], abs=1e-3)
    assert not (tmp_path / "c" / "runs").exists()
    r = run_job("evaluate.py", "no-such-run", "--storage-path", uri, env=env_c)
    expect_one_line(r, "no run named 'no-such-run' under --storage-path s3://bucket/runs")

    # a name whose prefix holds objects that are no run: refused, never written over
    fs, base = pyarrow.fs.FileSystem.from_uri(uri)
    with fs.open_output_stream(f"{base}/theirs/notes.txt") as out:
        out.write(b"mine")
    r = run_job("train.py", *common, "--epochs", "1", "--run-name", "theirs", env=env_b)
    expect_one_line(r, "holds objects under theirs/ but no run record")
    assert _objects(uri, s3_server.env, monkeypatch)["theirs/notes.txt"] == b"mine"

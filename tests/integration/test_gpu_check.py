"""The GPU machine's check, rehearsed on the CPU as the device would run it: no Ray, no MLflow,
then no Captum either (bench/gpu_check.sh --rehearse), so that the script cannot rot between
the rare sessions that are lent a GPU."""

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_prepare_and_rehearse_the_gpu_check(tmp_path):
    prepared = subprocess.run(["bash", "bench/prepare_gpu_check.sh"], cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
    assert prepared.returncode == 0, prepared.stderr
    assert "(limit 64 MiB)" in prepared.stdout
    done = subprocess.run(["bash", "bench/gpu_check.sh", "--rehearse", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "every section ok" in done.stdout
    with_captum = json.loads((tmp_path / "rehearse-no-ray-mlflow" / "report.json").read_text())
    without = json.loads((tmp_path / "rehearse-no-ray-mlflow-captum" / "report.json").read_text())
    order = ["machine", "data", "train_100_epochs", "step_table", "evaluation", "agreement"]
    for report in (with_captum, without):
        assert [s["name"] for s in report["sections"]] == order  # the most important first
        assert report["sections"][0]["figures"]["device"].startswith("CPU")
    a = {s["name"]: s for s in with_captum["sections"]}
    b = {s["name"]: s for s in without["sections"]}
    assert all(s["status"] == "ok" for s in a.values()), {n: s.get("why") for n, s in a.items()}
    assert "ray,mlflow" == a["machine"]["figures"]["blocked"]
    # the training section trained its epochs and, with Captum, ended with the Grad AUC
    assert a["train_100_epochs"]["figures"]["epochs"] == 2
    assert a["train_100_epochs"]["figures"]["AUC grad"] > 0
    # without Captum: trained all the same (no closing AUC), the reference row and the
    # evaluation left out with a reason, the step table still printed
    assert b["machine"]["figures"]["captum"].startswith("no (")
    assert b["train_100_epochs"]["status"] == "ok"
    assert b["train_100_epochs"]["figures"]["epochs"] == 2
    assert "AUC grad" not in b["train_100_epochs"]["figures"]
    assert b["evaluation"]["status"] == "skipped" and "Captum" in b["evaluation"]["why"]
    assert b["step_table"]["status"] == "ok"
    assert "reference/SMOOT" in a["step_table"]["figures"]
    assert "reference/SMOOT" not in b["step_table"]["figures"]
    assert "reference-style row skipped: Captum is not importable" in b["step_table"]["output_tail"]
    # the step table measures SGT against its FLOP floor (48.92 / 18.32 GFLOP at batch 256:
    # the ratio does not depend on the batch)
    step = json.loads((tmp_path / "rehearse-no-ray-mlflow" / "step.json").read_text())
    row = dict(zip(step["header"], step["rows"][0]))
    assert row["FLOP floor"] == pytest.approx(48.92 / 18.32, rel=2e-3)
    # each report is Markdown too, with a row per section
    md = (tmp_path / "rehearse-no-ray-mlflow-captum" / "report.md").read_text()
    assert "| evaluation | skipped |" in md and "| train_100_epochs | ok |" in md

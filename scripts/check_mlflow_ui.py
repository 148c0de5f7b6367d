#!/usr/bin/env python
"""Look at a store's MLflow UI as a user would, in headless Chromium: the experiment page (it
must open on the training runs, not MLflow 3's GenAI overview), a run's overview (its logged
model and datasets) and its metrics and system metrics as charts, each as a screenshot; exit 1
when a page does not show what it should.

  .venv/bin/python scripts/check_mlflow_ui.py                       # the local store, latest run
  .venv/bin/python scripts/check_mlflow_ui.py --tracking-uri sqlite:///path/mlflow.db --out shots/

Needs Debian's chromium (apt-get install chromium). Starts `mlflow ui` on a free port of
127.0.0.1 with one worker, and stops it at the end.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smoot_dist.runs.tracking import MODEL_TRAINING, experiment_url, resolve_tracking_uri  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the MLflow UI did not answer at {url} within {seconds:.0f} s")


def chromium(*args: str, budget_ms: int = 20000, height: int = 1000) -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("no chromium here; install it (apt-get install chromium)")
    r = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--window-size=1600,{height}",
                        f"--virtual-time-budget={budget_ms}", *args],
                       capture_output=True, text=True, timeout=120)
    return r.stdout


def look(url: str, shot: Path, must: list[str], must_not: list[str], budget_ms: int = 20000,
         height: int = 1000) -> list[str]:
    """Screenshot `url` into `shot`; the problems: texts the page lacks or should not show."""
    chromium(f"--screenshot={shot}", url, budget_ms=budget_ms, height=height)
    dom = chromium("--dump-dom", url, budget_ms=budget_ms, height=height)
    problems = [f"{url} does not show {text!r}" for text in must if text not in dom]
    problems += [f"{url} shows {text!r}" for text in must_not if text in dom]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--experiment", default="smoot_dist")
    parser.add_argument("--out", default="mlflow-ui-shots")
    parser.add_argument("--wait", type=float, default=60, metavar="S",
                        help="seconds each chart page gets to draw (a busy machine needs more)")
    args = parser.parse_args()
    from mlflow import MlflowClient

    uri = resolve_tracking_uri(args.tracking_uri)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(args.experiment)
    if experiment is None:
        raise SystemExit(f"no experiment {args.experiment!r} in {uri}; train a run first")
    [run] = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"],
                               max_results=1) or [None]
    if run is None:
        raise SystemExit(f"experiment {args.experiment!r} has no runs")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        charts_ms = int(args.wait * 1000)  # a drawn Plotly chart is an <svg class="main-svg">
        wait_for(f"{base}/health", 90)
        exp = f"{base}/#/experiments/{experiment.experiment_id}"
        run_page = f"{exp}/runs/{run.info.run_id}"
        problems = look(experiment_url(base, experiment.experiment_id), out / "experiment.png",
                        [run.info.run_name, "test_accuracy", "auc_grad"], ["No data available"])
        problems += look(f"{run_page}?{MODEL_TRAINING}", out / "run.png",
                         [run.info.run_name, "model"], [])
        # the run's metrics and system metrics drawn side by side in the experiment's chart
        # view, on a page tall enough for both sections (headless Chromium never draws the run
        # page's own chart tabs: they wait for a scroll that does not come)
        problems += look(f"{exp}/runs?{MODEL_TRAINING}&compareRunsMode=CHART",
                         out / "charts.png", ["Model metrics", "System metrics", "main-svg"], [],
                         charts_ms, height=3600)
    finally:
        server.terminate()
        server.wait(timeout=30)
    for p in problems:
        print(f"problem: {p}")
    print(f"screenshots: {out.resolve()} (experiment.png, run.png, charts.png: "
          f"metrics and system metrics)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

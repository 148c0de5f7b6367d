"""Checks a training job makes before it creates anything."""

import importlib.util
import signal
import sys

import pytest

from smoot_dist.cli.flags import run_cli
from smoot_dist.config import build_config
from smoot_dist.foundations.errors import UserError
from smoot_dist.attribution.methods import import_captum
from smoot_dist.workflows.preflight import check_closing_evaluation
from smoot_dist.foundations.signals import Terminated


def test_a_closing_evaluation_without_captum_is_refused_before_training(monkeypatch):
    real = importlib.util.find_spec

    def no_captum(name, *args):
        if name == "captum":
            raise ModuleNotFoundError("No module named 'captum'")  # as a blocked import does
        return real(name, *args)
    monkeypatch.setattr(importlib.util, "find_spec", no_captum)
    cfg = build_config(overrides={"data": {"dataset": "mnist"}})
    assert cfg.train.eval_images > 0
    with pytest.raises(UserError, match="Captum is not installed here .* or pass --eval-images 0"):
        check_closing_evaluation(cfg)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "captum"
                        else real(name, *a))
    with pytest.raises(UserError, match="Captum is not installed"):
        check_closing_evaluation(cfg)
    # no closing evaluation asked: nothing needs Captum
    check_closing_evaluation(build_config(overrides={"data": {"dataset": "mnist"},
                                                     "train": {"eval_images": 0}}))


def test_with_captum_the_check_passes():
    check_closing_evaluation(build_config(overrides={"data": {"dataset": "mnist"}}))


class _FailingCaptumImport:
    """A finder that fails `import captum.attr` the way a pybind11 extension does when an
    exception is raised while it initialises: ImportError, with the exception as its cause."""

    def __init__(self, cause):
        self.cause = cause

    def find_spec(self, name, path=None, target=None):
        if name == "captum.attr":
            raise ImportError("initialization failed") from self.cause
        return None


@pytest.mark.parametrize("interrupt", [Terminated, KeyboardInterrupt])
def test_an_interrupt_inside_captums_import_stays_an_interrupt(monkeypatch, interrupt):
    """SIGTERM during the import once read as "Captum is not installed" and exit code 2."""
    import captum  # noqa: F401  (the package found; its attr module fails)

    monkeypatch.delitem(sys.modules, "captum.attr")
    monkeypatch.setattr(sys, "meta_path", [_FailingCaptumImport(interrupt()), *sys.meta_path])
    with pytest.raises(interrupt):
        import_captum()
    # a run in this process imports Captum in its preflight (a Ray run evaluates on workers)
    cfg = build_config(overrides={"data": {"dataset": "mnist"}, "run": {"workers": 0}})
    with pytest.raises(interrupt):
        check_closing_evaluation(cfg)
    check_closing_evaluation(build_config(overrides={"data": {"dataset": "mnist"}}))  # 2 workers
    # a real failure to import (no interrupt behind it) is the one-line user error
    sys.meta_path[0] = _FailingCaptumImport(None)
    with pytest.raises(UserError, match="Captum is not installed here"):
        import_captum()


@pytest.mark.parametrize("interrupt,code,line", [(Terminated, 143, "interrupted (SIGTERM)"),
                                                 (KeyboardInterrupt, 130, "interrupted")])
def test_a_job_interrupted_inside_any_import_exits_as_interrupted(capsys, monkeypatch, interrupt,
                                                                  code, line):
    monkeypatch.setattr(signal, "signal", lambda *a: None)  # pytest keeps its own SIGTERM

    def job():
        raise ImportError("initialization failed") from interrupt()
    with pytest.raises(SystemExit) as stopped:
        run_cli(job)
    assert stopped.value.code == code
    assert capsys.readouterr().err.strip() == line
    with pytest.raises(ImportError):  # no interrupt behind it: a real failure, not hidden
        run_cli(lambda: __import__("no_such_module_here"))

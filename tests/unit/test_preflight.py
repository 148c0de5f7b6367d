"""Checks a training job makes before it creates anything."""

import importlib.util

import pytest

from smoot_dist.config import build_config
from smoot_dist.errors import UserError
from smoot_dist.job.preflight import check_closing_evaluation


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

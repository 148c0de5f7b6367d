import pytest
from ray import tune

from smoot_dist.config import build_config
from smoot_dist.errors import ConfigError
from smoot_dist.sweep.ray_tune import param_space, trial_config
from smoot_dist.sweep.search_space import load_search_space


def _space(tmp_path, text):
    f = tmp_path / "space.yaml"
    f.write_text(text)
    return load_search_space(f)


def test_default_space_samples_only_valid_trials():
    space = load_search_space()
    assert {d.name for d in space.searched} >= {"beta", "lambda", "alpha", "k_min", "k_max"}
    domains = param_space(space)
    base = build_config(overrides={"data": {"dataset": "fashion_mnist"}}).to_dict()
    for _ in range(300):
        params = {k: (v.sample() if isinstance(v, tune.search.sample.Domain) else v)
                  for k, v in domains.items()}
        assert params["k_min"] < params["k0"] < params["k_max"]
        cfg = trial_config(base, params)  # validates: raises on any invalid trial
        assert cfg.method.name == "smoot" and cfg.method.lam == params["lambda"]


@pytest.mark.parametrize("text,match", [
    ("k_min: {uniform: [0.1, 0.6]}\nk_max: {uniform: [0.5, 0.9]}\n", "must lie below the k_max range"),
    ("k_min: {uniform: [0.1, 0.3]}\nk_max: {uniform: [0.4, 0.9]}\nk0: 0.2\n", "k0 .* must lie between"),
    ("k_min: {uniform: [0.1, 0.3]}\nk_max: {uniform: [0.4, 0.9]}\nk0: {uniform: [0.35, 0.5]}\n",
     "k0 .* must lie between"),
    ("gamma: {uniform: [0, 1]}\n", "unknown setting 'gamma'"),
    ("beta: {uniform: [0.5, 1.5]}\n", r"beta .* \[0, 1\]"),
    ("lambda: {loguniform: [0, 1]}\n", "needs low > 0"),
    ("alpha: {normal: [0, 1]}\n", "must be a value or one of"),
    ("beta: {uniform: [0.9, 0.5]}\n", "low < high"),
    ("n: {uniform: [1, 5]}\n", "n .* takes int values: use {choice"),
    ("fill: {choice: [random, zeros]}\n", "unknown fill 'zeros'"),
])
def test_invalid_spaces_fail_before_any_trial(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        _space(tmp_path, text)


def test_choices_and_fixed_values(tmp_path):
    space = _space(tmp_path, "n: {choice: [3, 5]}\nfill: {choice: [random, mean]}\nbeta: 0.9\n")
    assert [d.name for d in space.searched] == ["n", "fill"]
    assert param_space(space)["beta"] == 0.9

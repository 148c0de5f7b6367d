import pytest
from ray import tune

from smoot_dist.config import build_config
from smoot_dist.foundations.errors import ConfigError
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


def test_the_tuned_spaces_search_each_methods_own_settings_over_shared_ranges():
    from smoot_dist.config.presets import SEARCH_SPACES

    smoot = load_search_space(SEARCH_SPACES / "tuned_smoot.yaml")
    sgt = load_search_space(SEARCH_SPACES / "tuned_sgt.yaml")
    assert (smoot.method, sgt.method) == ("smoot", "sgt")
    alpha = smoot.get("alpha")
    assert alpha.kind == "loguniform" and alpha.low <= 0.003 and alpha.high >= 0.3
    assert {d.name for d in smoot.searched} == {"alpha", "beta", "k_min", "k_max", "k0", "lambda",
                                                 "fill"}
    assert {d.name for d in sgt.searched} == {"k0", "lambda", "fill"}
    for name in ("k0", "lambda", "fill"):  # equal where they share a setting
        assert smoot.get(name) == sgt.get(name)
    base = build_config(overrides={"data": {"dataset": "fashion_mnist"}}).to_dict()
    domains = param_space(sgt)
    for _ in range(50):
        params = {k: v.sample() for k, v in domains.items()}
        cfg = trial_config(base, params, sgt.method)
        assert cfg.method.name == "sgt" and cfg.method.k0 == params["k0"]


def test_a_space_refuses_settings_its_method_does_not_read(tmp_path):
    with pytest.raises(ConfigError, match="alpha .* SMOOT setting that sgt does not read"):
        _space(tmp_path, "method: sgt\nalpha: {loguniform: [0.01, 0.1]}\n")
    with pytest.raises(ConfigError, match="'traditional' .* has no settings to search"):
        _space(tmp_path, "method: traditional\nlambda: 1.0\n")
    f = tmp_path / "plain.yaml"
    f.write_text("lambda: {loguniform: [0.1, 1.0]}\n")
    assert load_search_space(f, "sgt").method == "sgt"  # the sweep's --method, where unnamed

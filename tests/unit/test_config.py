import pytest

from smoot_dist.config import JobConfig, build_config
from smoot_dist.foundations.errors import ConfigError


def test_dataset_presets_follow_the_papers_table_1():
    mnist = build_config(overrides={"data": {"dataset": "mnist"}})
    assert (mnist.model.name, mnist.method.beta, mnist.train.lr, mnist.method.k0) == ("cnn", 0.95, 1.0, 0.5)
    cifar = build_config(overrides={"data": {"dataset": "cifar10"}})
    assert (cifar.model.name, cifar.method.beta, cifar.train.lr) == ("deit_tiny_patch16_224", 0.8, 0.001)
    assert cifar.train.batch_size == 256 and cifar.train.optimizer == "adadelta"


def test_a_missing_preset_is_an_error_not_a_silent_default(tmp_path, monkeypatch):
    """A built-in dataset whose preset is not installed: training on would lose the paper's
    settings without a word (what a wheel without package data did)."""
    from smoot_dist.config import presets

    (tmp_path / "fashion_mnist.yaml").write_text((presets.PRESETS / "fashion_mnist.yaml").read_text())
    monkeypatch.setattr(presets, "PRESETS", tmp_path)
    assert build_config(overrides={"data": {"dataset": "fashion_mnist"}}).data.dataset == "fashion_mnist"
    with pytest.raises(ConfigError, match=r"the preset of mnist \(.*mnist.yaml\) is missing from "
                                          r"the installed smoot_dist; reinstall"):
        build_config(overrides={"data": {"dataset": "mnist"}})
    # a user's own data has no preset, and needs none
    assert build_config(overrides={"data": {"dataset": "imagefolder:/x"}}).data.dataset == "imagefolder:/x"


def test_layers_flags_over_file_over_preset(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("data: {dataset: cifar100}\nmethod: {beta: 0.5, lambda: 2.0}\ntrain: {lr: 0.01}\n")
    cfg = build_config(str(f), {"method": {"beta": 0.6}})
    assert cfg.data.dataset == "cifar100"
    assert cfg.method.beta == 0.6  # flag beats file
    assert cfg.method.lam == 2.0  # file beats preset ("lambda" is the YAML name)
    assert cfg.train.lr == 0.01
    assert cfg.model.name == "deit_tiny_patch16_224"  # preset of the file's dataset
    assert cfg.to_dict()["method"]["lambda"] == 2.0


def test_round_trip_of_to_dict_through_yaml(tmp_path):
    import yaml
    cfg = build_config(overrides={"data": {"dataset": "mnist", "train_subset": 100},
                                  "method": {"name": "sgt", "k0": 0.3}})
    f = tmp_path / "r.yaml"
    f.write_text(yaml.safe_dump(cfg.to_dict()))
    assert build_config(str(f)) == cfg


@pytest.mark.parametrize("section,values,match", [
    ("method", {"k_min": 0.8, "k_max": 0.8}, "k_min .* must be below k_max"),
    ("method", {"k_min": 0.9, "k_max": 0.5, "k0": 0.6}, "must be below"),
    ("method", {"k0": 1.5}, r"k0 .* \[0, 1\]"),
    ("method", {"k_min": -0.1}, r"k_min .* \[0, 1\]"),
    ("method", {"k0": 0.9}, "k0 .* within"),
    ("method", {"beta": 1.2}, r"beta .* \[0, 1\]"),
    ("method", {"alpha": -0.1}, "alpha .* >= 0"),
    ("method", {"lam": -1.0}, "lambda .* >= 0"),
    ("method", {"lam": float("nan")}, "lambda must be a finite"),
    ("method", {"n": 0}, "n .* >= 1"),
    ("method", {"name": "sgd"}, "unknown method 'sgd'"),
    ("method", {"fill": "zero"}, "unknown fill 'zero'"),
    ("data", {"dataset": "imagenet"}, "unknown dataset 'imagenet'"),
    ("data", {"train_subset": 0}, "train_subset must be a positive"),
    ("train", {"epochs": 0}, "epochs must be >= 1"),
    ("train", {"batch_size": 0}, "batch_size must be >= 1"),
    ("train", {"lr": 0.0}, "lr must be a positive"),
    ("train", {"optimizer": "lion"}, "unknown optimizer"),
    ("train", {"device": "tpu"}, "unknown device"),
])
def test_out_of_range_values_are_one_clear_error(section, values, match):
    with pytest.raises(ConfigError, match=match) as info:
        build_config(overrides={section: values})
    assert "\n" not in str(info.value)


def test_sgt_accepts_k0_outside_the_smoot_bounds():
    cfg = build_config(overrides={"method": {"name": "sgt", "k0": 0.9}})
    assert cfg.method.k0 == 0.9


@pytest.mark.parametrize("text,match", [
    ("method: {kk: 1}\n", "unknown key method.kk .* known keys in method: name, k0"),
    ("optim: {lr: 1}\n", "unknown section 'optim'"),
    ("method: {k0: fast}\n", "method.k0 .* must be a number, got 'fast'"),
    ("train: {epochs: 1.5}\n", "train.epochs .* must be an integer"),
    ("train: {epochs: true}\n", "train.epochs .* must be an integer"),
    ("method: {saliency_abs: 1}\n", "saliency_abs .* must be true or false"),
    ("method: [1, 2]\n", "must be a mapping"),
    ("- a\n- b\n", "must be a mapping of sections"),
    ("method: {k0: [\n", "not valid YAML at line"),
    # sections and names of the wrong type (were: AttributeError, an unhashable TypeError)
    ("data: [a, b]\n", "section 'data' in"),
    ("data: 7\n", "section 'data' in"),
    ("data: {dataset: [a, b]}\n", "data.dataset in"),
    ("data: {dataset: {x: 1}}\n", "data.dataset in"),
])
def test_bad_config_files(tmp_path, text, match):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        build_config(str(f))


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        build_config(str(tmp_path / "nope.yaml"))


def test_defaults_are_the_designs():
    m = JobConfig().method
    assert (m.name, m.k0, m.k_min, m.k_max, m.alpha, m.n, m.lam, m.fill, m.saliency_abs) == \
        ("smoot", 0.5, 0.2, 0.8, 0.1, 5, 1.0, "random", False)


def _train_flags(*argv):
    from smoot_dist.cli.flags import parse
    from smoot_dist.cli.train import FLAGS

    return parse(FLAGS, list(argv)).run


def test_workers_take_a_count_or_an_elastic_range():
    assert (_train_flags("--workers", "3").workers, _train_flags("--workers", "3").max_workers) == (3, None)
    run = _train_flags("--workers", "1:4", "--resize-check-s", "5")
    assert (run.workers, run.max_workers, run.resize_check_s) == (1, 4, 5.0)
    for bad, match in (("2:1", "must give 1 <= MIN <= MAX"), ("0:2", "must give 1 <= MIN <= MAX")):
        with pytest.raises(ConfigError, match=match):
            _train_flags("--workers", bad)
    with pytest.raises(SystemExit) as exit_info:
        _train_flags("--workers", "1:x")
    assert exit_info.value.code == 2


@pytest.mark.parametrize("values, match", [
    ({"data": {"dataset": "mnist", "loader": "stream"}}, "--data-loader stream reads Parquet shards"),
    ({"data": {"dataset": "parquet:/x", "loader": "stream"}, "run": {"workers": 0}},
     "--data-loader stream runs on Ray Train workers"),
    ({"data": {"dataset": "parquet:/x", "loader": "stream", "train_subset": 10}},
     "prepare a smaller dataset instead"),
    ({"data": {"data_cpus": 0}}, "data_cpus"),
    ({"data": {"loader": "disk"}}, "unknown data_loader|unknown loader"),
])
def test_streaming_settings_that_cannot_work(values, match):
    with pytest.raises(ConfigError, match=match):
        build_config(overrides=values)


def _laughs(levels: int) -> str:
    """A "billion laughs" config: each level lists the one below nine times."""
    lines = ['  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "x:\n" + "\n".join(lines) + f"\ntrain:\n  epochs: *a{levels - 1}\n"


@pytest.mark.parametrize("levels", [6, 10])
def test_yaml_aliases_that_expand_past_a_bound_are_refused_at_once(tmp_path, levels):
    import time

    f = tmp_path / "bomb.yaml"
    f.write_text(_laughs(levels))  # 9**10 values: 3.5 billion, from 12 lines
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="expands to more than 10000 values") as err:
        build_config(str(f))
    assert len(str(err.value)) < 300
    assert time.perf_counter() - start < 5  # counted up to the bound only; measured ~1 ms


def test_aliases_a_config_file_can_use_are_kept(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("method: &m {beta: 0.9}\nmodel: {name: cnn}\ntrain: {epochs: &e 3, eval_batch_size: 500}\n")
    cfg = build_config(str(f))
    assert (cfg.method.beta, cfg.train.epochs) == (0.9, 3)


def test_a_message_never_holds_an_unbounded_value(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  epochs: [" + ", ".join(["1"] * 5000) + "]\n")
    with pytest.raises(ConfigError) as err:
        build_config(str(f))
    assert "train.epochs in" in str(err.value) and len(str(err.value)) < 200
    f.write_text("method:\n  fill: " + "x" * 100_000 + "\n")
    with pytest.raises(ConfigError, match="unknown fill 'xxxx") as err:
        build_config(str(f))
    assert len(str(err.value)) < 200


def test_a_config_path_that_is_no_regular_file(tmp_path):
    import os

    os.mkfifo(tmp_path / "fifo")
    for path in ("/dev/zero", str(tmp_path / "fifo"), str(tmp_path)):
        with pytest.raises(ConfigError, match=f"config file {path} is not a regular file"):
            build_config(path)
    with pytest.raises(ConfigError, match="does not exist"):
        build_config(str(tmp_path / "none.yaml"))


def test_the_battery_flags_default_to_the_metrics_own_constants():
    """config may not import evaluation (the layers), so the battery's defaults are written
    twice: the flags' in EvaluateConfig and the metrics' own constants. They must agree, or a
    flag-less evaluate.py would measure another protocol than the library's default."""
    from dataclasses import fields

    from smoot_dist.config.schema import EvaluateConfig
    from smoot_dist.evaluation.battery import BatteryOptions

    flags, library = EvaluateConfig(), BatteryOptions()
    names = [f.name for f in fields(BatteryOptions)]
    assert names, "BatteryOptions lost its fields"
    assert {n: getattr(flags, n) for n in names} == {n: getattr(library, n) for n in names}

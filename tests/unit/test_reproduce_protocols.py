"""jobs/reproduce.py's protocols: configs/reproduce/*.yaml under the flags, one config per dataset."""

import pytest

from smoot_dist.cli.reproduce import configs_from_args
from smoot_dist.foundations.errors import ConfigError


def test_cpu_protocol_covers_both_datasets_with_their_presets():
    cfgs, name = configs_from_args(["--protocol", "cpu"])
    assert name == "cpu"
    assert [c.data.dataset for c in cfgs] == ["mnist", "fashion_mnist"]
    for c in cfgs:
        assert (c.data.train_subset, c.train.epochs, c.run.workers) == (10000, 10, 2)
        assert (c.reproduce.seeds, c.reproduce.eval_images) == (3, 2000)
        assert c.reproduce.methods == "traditional,sgt,smoot,random_mask"
        # the dataset's Table 1 preset lies under the protocol
        assert (c.method.k0, c.method.beta, c.train.optimizer, c.train.batch_size) == (0.5, 0.95, "adadelta", 256)


def test_flags_override_the_protocol_and_dataset_picks_one():
    cfgs, _ = configs_from_args(["--protocol", "cpu", "--dataset", "mnist", "--epochs", "3",
                                 "--seeds", "5"])
    assert [c.data.dataset for c in cfgs] == ["mnist"]
    assert (cfgs[0].train.epochs, cfgs[0].reproduce.seeds, cfgs[0].data.train_subset) == (3, 5, 10000)


def test_paper_protocol_is_the_papers_schedule_on_one_gpu():
    cfgs, _ = configs_from_args(["--protocol", "paper"])
    for c in cfgs:
        assert (c.train.epochs, c.data.train_subset, c.train.device, c.run.workers) == (100, None, "cuda", 0)
        assert c.tracking.enabled is False and c.reproduce.eval_images is None


def test_without_a_protocol_it_is_one_dataset_at_the_papers_epochs():
    cfgs, name = configs_from_args(["--dataset", "fashion_mnist", "--train-subset", "4000"])
    assert name == "custom" and len(cfgs) == 1 and cfgs[0].train.epochs == 100


def test_decoy_protocol_is_both_decoy_datasets_at_10000_images_5_epochs_with_rrr():
    cfgs, name = configs_from_args(["--protocol", "decoy"])
    assert name == "decoy"
    assert [c.data.dataset for c in cfgs] == ["decoy_mnist", "decoy_fashion_mnist"]
    for c, preset in zip(cfgs, ("mnist", "fashion_mnist")):
        # 5 epochs: a dataset's 30 runs in one sitting on 2 cores (decoy.yaml says why)
        assert (c.data.train_subset, c.train.epochs, c.reproduce.seeds) == (10000, 5, 6)
        assert c.reproduce.methods == "traditional,sgt,smoot,random_mask,rrr"
        assert "shortcut" in c.reproduce.metrics and "decoy_share" in c.reproduce.metrics
        # the source dataset's Table 1 preset lies under it
        plain, _ = configs_from_args(["--protocol", "cpu", "--dataset", preset])
        assert (c.method.beta, c.train.lr, c.train.optimizer) == (
            plain[0].method.beta, plain[0].train.lr, plain[0].train.optimizer)
    # a reproduction without a protocol leaves the annotation-trained reference out
    assert "rrr" not in configs_from_args(["--dataset", "mnist"])[0][0].reproduce.methods


def test_a_protocol_file_path_works(tmp_path):
    f = tmp_path / "tiny.yaml"
    f.write_text("train: {epochs: 2}\nreproduce: {datasets: fashion_mnist, seeds: 1}\n")
    cfgs, name = configs_from_args(["--protocol", str(f)])
    assert name == "tiny" and [c.data.dataset for c in cfgs] == ["fashion_mnist"]
    assert cfgs[0].train.epochs == 2


@pytest.mark.parametrize("argv, words", [
    (["--protocol", "laptop"], "unknown protocol 'laptop': choose one of cpu, decoy, paper, tuned"),
    (["--protocol", "cpu", "--datasets", "mnist,imagenet"], "imagenet"),
])
def test_bad_protocols_and_datasets_are_one_line(argv, words):
    with pytest.raises(ConfigError, match=words):
        configs_from_args(argv)

import pytest
import timm
import torch
from torch import nn

from smoot_dist.config import ModelConfig
from smoot_dist.foundations.catalog import DATASETS
from smoot_dist.foundations.errors import ConfigError, UserError
from smoot_dist.models.cnn import MnistCNN
from smoot_dist.models.registry import ResizeInput, create_model


def test_cnn_is_the_papers_architecture():
    m = create_model(ModelConfig("cnn"), DATASETS["mnist"])
    assert isinstance(m, MnistCNN)
    assert m.fc1.in_features == 9216 and m.fc2.out_features == 10
    assert sum(p.numel() for p in m.parameters()) == 1_199_882  # the PyTorch MNIST example's count
    assert m(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_cnn_adapts_to_cifar_channels_size_and_classes():
    m = create_model(ModelConfig("cnn"), DATASETS["cifar100"])
    assert m.conv1.in_channels == 3 and m.fc1.in_features == 64 * 14 * 14
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 100)


def test_deit_tiny_on_32x32_cifar_with_patch_4():
    m = create_model(ModelConfig("deit_tiny_patch16_224", patch_size=4), DATASETS["cifar10"])
    assert m.patch_embed.num_patches == 64
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_input_resize_keeps_dataset_resolution_outside():
    m = create_model(ModelConfig("deit_tiny_patch16_224", input_size=224), DATASETS["cifar10"])
    assert isinstance(m, ResizeInput) and m.model.patch_embed.num_patches == 196
    x = torch.zeros(1, 3, 32, 32, requires_grad=True)
    m(x).sum().backward()
    assert x.grad.shape == (1, 3, 32, 32)


def test_timm_cnn_takes_dataset_channels():
    m = create_model(ModelConfig("resnet18"), DATASETS["mnist"])
    assert m(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_unknown_model_and_misplaced_patch_size():
    with pytest.raises(ConfigError, match="unknown model 'resnet9000'"):
        create_model(ModelConfig("resnet9000"), DATASETS["mnist"])
    with pytest.raises(ConfigError, match="no patch size"):
        create_model(ModelConfig("cnn", patch_size=4), DATASETS["mnist"])
    with pytest.raises(ConfigError, match="no patch size"):
        create_model(ModelConfig("resnet18", patch_size=4), DATASETS["mnist"])


def test_pretrained_timm_weights_from_a_local_file_are_adapted(tmp_path):
    torch.manual_seed(0)
    source = timm.create_model("deit_tiny_patch16_224", num_classes=1000)  # ImageNet geometry
    path = tmp_path / "deit_tiny.pth"
    torch.save(source.state_dict(), path)
    m = create_model(ModelConfig("deit_tiny_patch16_224", patch_size=4, pretrained=str(path)),
                     DATASETS["cifar10"])
    assert torch.equal(m.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight)
    assert m.head.out_features == 10
    assert m.pos_embed.shape[1] == 65  # 64 patches + class token, resampled by timm


def test_pretrained_weights_that_do_not_fit_are_one_clear_error(tmp_path):
    path = tmp_path / "cnn.pt"
    torch.save(MnistCNN().state_dict(), path)
    with pytest.raises(UserError, match="pretrained weights .* do not fit model deit_tiny"):
        create_model(ModelConfig("deit_tiny_patch16_224", pretrained=str(path)), DATASETS["cifar10"])
    with pytest.raises(UserError, match="do not fit the cnn"):
        create_model(ModelConfig("cnn", pretrained=str(path)), DATASETS["cifar10"])
    with pytest.raises(UserError, match="does not exist"):
        create_model(ModelConfig("cnn", pretrained=str(tmp_path / "none.pt")), DATASETS["mnist"])


def test_cnn_pretrained_round_trip(tmp_path):
    torch.manual_seed(0)
    src = MnistCNN()
    torch.save(src.state_dict(), tmp_path / "w.pt")
    m = create_model(ModelConfig("cnn", pretrained=str(tmp_path / "w.pt")), DATASETS["mnist"])
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), src.state_dict().values()))


def test_the_cnns_dropout_keeps_the_right_share_and_scales_as_nn_dropout():
    from smoot_dist.models.layers import UniformDropout

    x = torch.rand(1000, 1000) + 0.5  # no zeros: every zero in the output was dropped
    for p in (0.25, 0.3, 0.5):
        drop = UniformDropout(p).train()
        torch.manual_seed(0)
        for dtype in (torch.float32, torch.bfloat16):
            xd = x.to(dtype).clone().requires_grad_()
            out = drop(xd)
            kept = out != 0
            # 1e6 Bernoulli(1 - p) draws: within 5 standard deviations of the keep probability,
            # also in bf16 (the draws are fp32: a bf16 draw would round 0.7 to 0.69921875)
            assert abs(kept.double().mean().item() - (1 - p)) < 5 * ((p * (1 - p)) / 1e6) ** 0.5
            # kept values scaled by 1/keep rounded to the dtype, as nn.Dropout scales them
            scale = torch.tensor(1 / (1 - p)).to(dtype)
            assert torch.equal(out[kept], xd.detach()[kept] * scale)
            reference = nn.Dropout(p).train()(xd.detach())
            assert torch.equal(reference[reference != 0], xd.detach()[reference != 0] * scale)
            out.backward(torch.ones_like(out))  # the gradient takes the same mask and scale
            assert torch.equal(xd.grad, kept.to(dtype) * scale)
    drop = UniformDropout(0.5)
    assert torch.equal(drop.eval()(x), x) and torch.equal(UniformDropout(0.0).train()(x), x)


def test_the_cnn_scripts_and_its_scripted_eval_forward_equals_the_module():
    torch.manual_seed(0)
    m = create_model(ModelConfig("cnn"), DATASETS["mnist"]).eval()
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(torch.jit.script(m)(x), m(x))


def test_a_cpu_forward_in_slices_equals_the_whole_batch():
    from smoot_dist.models.inference import forward_in_slices, in_chunks

    torch.manual_seed(0)
    model = MnistCNN().eval()
    x = torch.randn(300, 1, 28, 28)  # two whole slices of 128 and a short one of 44
    with torch.no_grad():
        whole, sliced = model(x), forward_in_slices(model, x)
    assert torch.allclose(sliced, whole, rtol=0, atol=1e-5)  # bit-identical here, measured
    assert torch.equal(sliced.argmax(1), whole.argmax(1))
    seen = []

    def fn(a, b):  # every batch argument is split alike
        seen.append((len(a), len(b)))
        return a + b

    a, b = torch.arange(300.), torch.arange(300.) * 10
    assert torch.equal(in_chunks(fn, 128)(a, b), a + b)
    assert seen == [(128, 128), (128, 128), (44, 44)]
    calls = []
    on_meta = torch.empty(300, 1, 28, 28, device="meta")  # not a CPU: one call, the whole batch
    forward_in_slices(lambda t: calls.append(len(t)) or t, on_meta)
    assert calls == [300]

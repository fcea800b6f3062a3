"""MedicalNet-style checkpoints: mapping, round trip, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alnm_ray.embed.model import build_resnet18, embed_volumes
from alnm_ray.embed.weights import (
    WeightsError,
    WeightsMismatchWarning,
    load_weights,
    map_key,
    read_checkpoint,
)


def test_round_trip_reproduces_the_saved_model(weights_file: Path, rng: np.random.Generator) -> None:
    x = rng.normal(size=(2, 32, 32, 32))
    expected = embed_volumes(build_resnet18(seed=123), x)
    model = build_resnet18(seed=0)
    report = load_weights(model, weights_file)
    np.testing.assert_array_equal(embed_volumes(model, x), expected)
    assert report.loaded == len(build_resnet18(seed=0).state_dict())
    assert report.missing == () and report.unexpected == ()
    assert report.ignored == ("module.conv_seg.0.weight", "module.conv_seg.1.weight")


def test_plain_monai_state_dict_also_loads(tmp_path: Path, rng: np.random.Generator) -> None:
    import torch

    source = build_resnet18(seed=4)
    torch.save(source.state_dict(), tmp_path / "plain.pt")
    model = build_resnet18(seed=0)
    load_weights(model, tmp_path / "plain.pt")
    x = rng.normal(size=(1, 32, 32, 32))
    np.testing.assert_array_equal(embed_volumes(model, x), embed_volumes(source, x))


def test_key_mapping_is_explicit() -> None:
    assert map_key("module.conv1.weight") == "conv1.weight"
    assert map_key("module.module.layer4.1.bn2.running_mean") == "layer4.1.bn2.running_mean"
    assert map_key("layer2.0.downsample.1.bias") == "layer2.0.downsample.1.bias"
    assert map_key("module.conv_seg.3.weight") is None
    assert map_key("module.features.0.weight") is None


def test_corrupted_file_gives_a_clear_error(weights_file: Path) -> None:
    data = weights_file.read_bytes()
    weights_file.write_bytes(data[: len(data) // 3])
    with pytest.raises(WeightsError, match=r"resnet_18.pth: expected a PyTorch checkpoint.*truncated, corrupt"):
        read_checkpoint(weights_file)


def test_non_checkpoint_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("not a checkpoint", encoding="utf-8")
    with pytest.raises(WeightsError, match="could not read it"):
        load_weights(build_resnet18(seed=0), path)


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_checkpoint(tmp_path / "absent.pth")


def test_checkpoint_without_tensors_is_rejected(tmp_path: Path) -> None:
    import torch

    torch.save({"epoch": 3}, tmp_path / "empty.pth")
    with pytest.raises(WeightsError, match="found none among keys epoch"):
        read_checkpoint(tmp_path / "empty.pth")


def test_shape_mismatch_is_an_error_naming_the_tensor(medicalnet, tmp_path: Path) -> None:
    import torch

    state = medicalnet.state(build_resnet18(seed=1))
    state["module.conv1.weight"] = torch.zeros(64, 3, 7, 7, 7)  # a 3-channel stem
    torch.save({"state_dict": state}, tmp_path / "rgb.pth")
    with pytest.raises(WeightsError, match=r"conv1.weight \(expected \(64, 1, 7, 7, 7\), found \(64, 3, 7, 7, 7\)\)"):
        load_weights(build_resnet18(seed=0), tmp_path / "rgb.pth")


def test_missing_and_unexpected_keys_are_reported(medicalnet, tmp_path: Path) -> None:
    import torch

    state = medicalnet.state(build_resnet18(seed=1))
    del state["module.layer4.1.conv2.weight"]
    state["module.layer1.2.conv1.weight"] = torch.zeros(64, 64, 3, 3, 3)  # a ResNet-34 block
    torch.save({"state_dict": state}, tmp_path / "r34.pth")
    with pytest.raises(WeightsError) as info:
        load_weights(build_resnet18(seed=0), tmp_path / "r34.pth")
    text = str(info.value)
    assert "1 missing (layer4.1.conv2.weight)" in text
    assert "1 unexpected (module.layer1.2.conv1.weight)" in text
    assert "--no-strict-weights" in text


def test_non_strict_loading_warns_and_keeps_the_rest(medicalnet, tmp_path: Path) -> None:
    source = build_resnet18(seed=1)
    state = medicalnet.state(source)
    del state["module.layer4.1.conv2.weight"]
    import torch

    torch.save({"state_dict": state}, tmp_path / "partial.pth")
    model = build_resnet18(seed=0)
    before = model.layer4[1].conv2.weight.clone()
    with pytest.warns(WeightsMismatchWarning, match="1 missing"):
        report = load_weights(model, tmp_path / "partial.pth", strict=False)
    assert report.missing == ("layer4.1.conv2.weight",)
    assert torch.equal(model.layer4[1].conv2.weight, before)
    assert torch.equal(model.conv1.weight, source.conv1.weight)


def test_old_checkpoints_without_batch_counters_load(medicalnet, tmp_path: Path) -> None:
    import torch

    state = {k: v for k, v in medicalnet.state(build_resnet18(seed=2)).items()
             if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": state}, tmp_path / "old.pth")
    report = load_weights(build_resnet18(seed=0), tmp_path / "old.pth")
    import torch.nn as nn

    n_bn = sum(isinstance(m, nn.BatchNorm3d) for m in build_resnet18(seed=0).modules())
    assert n_bn == 17  # stem + 2 per basic block x 8 blocks
    assert report.missing == () and len(report.filled_buffers) == n_bn


def test_saving_twice_gives_identical_embeddings(medicalnet, tmp_path: Path, rng: np.random.Generator) -> None:
    """A weights file gives the same embedding whichever seed the model started from."""
    path = medicalnet.save(build_resnet18(seed=8), tmp_path / "w.pth", head=False)
    x = rng.normal(size=(1, 32, 32, 32))
    a, b = build_resnet18(seed=0), build_resnet18(seed=1)
    load_weights(a, path)
    load_weights(b, path)
    np.testing.assert_array_equal(embed_volumes(a, x), embed_volumes(b, x))

"""The extractor registry: 2-D ResNet-18 and VGG-19 beside the 3-D ResNet-18."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alnm_ray.embed.config import EmbedConfig
from alnm_ray.embed.extractors import EXTRACTOR_NAMES, EXTRACTORS, get_extractor
from alnm_ray.embed.inputs import to_network_input
from alnm_ray.embed.model import embed_images, embed_inputs, embed_volumes
from alnm_ray.embed.resnet2d import build_resnet18_2d
from alnm_ray.embed.vgg import VGG_REDUCTIONS, build_vgg19
from alnm_ray.embed.weights import WeightsError, load_weights, prepare_all_weights, weights_identity
from alnm_ray.exceptions import ConfigError, ExtractionError

#: Small 2-D grid: both networks downsample 32-fold, so 32 is the smallest side.
GRID_2D = 32


def test_registry_names_widths_and_columns() -> None:
    assert EXTRACTOR_NAMES == ("resnet18_3d", "resnet18_2d", "vgg19_2d")
    assert [(e.spatial_dims, e.width) for e in EXTRACTORS.values()] == [(3, 512), (2, 512), (2, 128)]
    assert EXTRACTORS["vgg19_2d"].columns[0] == "deep_000" and EXTRACTORS["vgg19_2d"].columns[-1] == "deep_127"
    with pytest.raises(ConfigError, match="embed.extractor: expected one of .*got 'vgg19'. Did you mean 'vgg19_2d'"):
        get_extractor("vgg19")


def test_resnet18_2d_is_torchvision_shaped() -> None:
    model = build_resnet18_2d(seed=0)
    assert model.conv1.in_channels == 1 and model.conv1.kernel_size == (7, 7)
    assert model.conv1.stride == (2, 2) and model.conv1.padding == (3, 3) and model.conv1.bias is None
    assert model.maxpool.kernel_size == 3 and model.maxpool.stride == 2 and model.maxpool.padding == 1
    keys = set(model.state_dict())
    assert "layer2.0.downsample.0.weight" in keys and "layer2.0.downsample.0.bias" not in keys
    assert not [k for k in keys if k.startswith("fc.")]
    # torchvision resnet18 has 122 tensors with fc (2 of them): the same 120 here
    assert len(keys) == 120


def test_vgg19_is_configuration_e() -> None:
    import torch

    model = build_vgg19(seed=0)
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    pools = [m for m in model.features if isinstance(m, torch.nn.MaxPool2d)]
    assert len(convs) == 16 and len(pools) == 5 and convs[0].in_channels == 1
    assert [c.out_channels for c in convs] == [64] * 2 + [128] * 2 + [256] * 4 + [512] * 8
    assert len(model.features) == 37 and isinstance(model.features[34], torch.nn.Conv2d)


@pytest.mark.parametrize("name", ["resnet18_2d", "vgg19_2d"])
def test_2d_shapes_and_determinism(name: str, rng: np.random.Generator) -> None:
    extractor = EXTRACTORS[name]
    images = rng.normal(size=(3, GRID_2D, GRID_2D))
    a = embed_images(extractor.build(seed=0), images)
    b = embed_images(extractor.build(seed=0), images)
    assert a.shape == (3, extractor.width) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, embed_images(extractor.build(seed=1), images))
    # a batch gives each image's own embedding
    np.testing.assert_allclose(a[1:2], embed_images(extractor.build(seed=0), images[1:2]), rtol=1e-4, atol=1e-5)


def test_vgg_channel_group_mean_is_the_mean_of_four_pooled_channels(rng: np.random.Generator) -> None:
    import torch

    model = build_vgg19(seed=0)
    x = torch.from_numpy(rng.normal(size=(2, 1, 64, 64)).astype(np.float32))
    with torch.inference_mode():
        pooled = model.features(x).mean(dim=(2, 3))  # (2, 512)
        out = model(x)
    np.testing.assert_allclose(out.numpy(), pooled.reshape(2, 128, 4).mean(dim=2).numpy(), rtol=1e-5, atol=1e-6)


def test_vgg_reductions_differ_and_are_validated(rng: np.random.Generator) -> None:
    images = rng.normal(size=(2, GRID_2D, GRID_2D))
    outs = {r: embed_images(build_vgg19(seed=0, reduction=r), images) for r in VGG_REDUCTIONS}
    assert {o.shape for o in outs.values()} == {(2, 128)}
    assert not np.allclose(outs["channel_group_mean"], outs["fc1_truncated"])
    with pytest.raises(ConfigError, match="embed.vgg_reduction: expected one of .*Did you mean 'fc1_truncated'"):
        EmbedConfig(vgg_reduction="fc1_truncate")


def test_2d_networks_refuse_volumes_and_3d_refuses_images(rng: np.random.Generator) -> None:
    with pytest.raises(ValueError, match=r"images: expected shape \(N, H, W\) or \(N, 1, H, W\) for a 2-D network; "
                                         r"got \(1, 8, 32, 32\)\. .*resnet18_3d"):
        embed_images(build_vgg19(seed=0), rng.normal(size=(1, 8, 32, 32)))
    with pytest.raises(ValueError, match=r"volumes: expected shape .* for a 3-D network; got \(2, 32, 32\)"):
        embed_volumes(EXTRACTORS["resnet18_3d"].build(seed=0), rng.normal(size=(2, 32, 32)))


def test_2d_extractor_input_and_3d_crop_refused(rng: np.random.Generator) -> None:
    cfg = EmbedConfig(grid=16, lift_depth=4, grid_2d=(GRID_2D, 48),
                      sequence_extractors={"MG_CC": "resnet18_2d", "US_LN": "vgg19_2d"})
    plane = rng.normal(100, 10, size=(20, 30))
    out = to_network_input(plane, cfg, sequence="MG_CC")
    assert out.shape == (GRID_2D, 48)
    assert abs(float(out.mean())) < 1e-5 and abs(float(out.std()) - 1) < 1e-4
    assert to_network_input(plane[None], cfg, sequence="US_LN").shape == (GRID_2D, 48)  # a single slice
    assert to_network_input(plane, cfg, sequence="T2WI").shape == (4, 16, 16)  # the 3-D default lifts it
    with pytest.raises(ExtractionError, match=r"c1/P1: the vgg19_2d extractor expects a 2-D image .* got a 3-D crop "
                                              r"of shape \(5, 20, 30\)\. Map this sequence to resnet18_3d "
                                              r"\(sequence_extractors: \{US_LN: resnet18_3d\}\)"):
        to_network_input(rng.normal(size=(5, 20, 30)), cfg, case="c1/P1", sequence="US_LN")


def test_config_per_sequence_yaml_round_trip_and_columns(tmp_path: Path) -> None:
    cfg = EmbedConfig(extractor="resnet18_2d", sequence_extractors={"US_TUMOR": "vgg19_2d", "US_LN": "vgg19_2d"})
    assert cfg.sequence_extractors == (("US_LN", "vgg19_2d"), ("US_TUMOR", "vgg19_2d"))
    assert cfg.extractor_for("MG_MLO") == "resnet18_2d" and cfg.extractor_for("US_LN") == "vgg19_2d"
    assert cfg.extractors_used == ("resnet18_2d", "vgg19_2d") and len(cfg.feature_columns) == 512
    assert EmbedConfig(extractor="vgg19_2d").feature_columns[-1] == "deep_127"
    cfg.to_yaml(tmp_path / "embed.yaml")
    assert "US_TUMOR: vgg19_2d" in (tmp_path / "embed.yaml").read_text(encoding="utf-8")
    assert EmbedConfig.from_yaml(tmp_path / "embed.yaml") == cfg
    with pytest.raises(ConfigError, match=r"embed.sequence_extractors\['MG_CC'\]: expected one of .*"
                                          r"Did you mean 'resnet18_2d'"):
        EmbedConfig(sequence_extractors={"MG_CC": "resnet18-2d"})
    with pytest.raises(ConfigError, match=r"embed.grid_2d: expected two integers >= 32 .*got 16.*224, 224"):
        EmbedConfig(grid_2d=16)


def test_config_hash_differs_per_extractor_and_keeps_3d_hashes() -> None:
    hashes = {name: EmbedConfig(extractor=name).stable_hash() for name in EXTRACTOR_NAMES}
    assert len(set(hashes.values())) == 3
    assert hashes["resnet18_3d"] == EmbedConfig().stable_hash()
    assert "extractor" not in EmbedConfig().content_dict()  # stores embedded before the registry keep their hashes
    vgg = EmbedConfig(extractor="vgg19_2d")
    assert vgg.stable_hash() != vgg.with_(vgg_reduction="fc1_truncated").stable_hash()
    assert vgg.stable_hash() != vgg.with_(grid_2d=64).stable_hash()
    # settings an extractor does not use do not count
    assert EmbedConfig(extractor="resnet18_2d").stable_hash() == \
        EmbedConfig(extractor="resnet18_2d", vgg_reduction="fc1_truncated").stable_hash()
    assert EmbedConfig(grid_2d=64).stable_hash() == EmbedConfig().stable_hash()
    mixed = EmbedConfig(sequence_extractors={"MG_CC": "resnet18_2d"})
    assert mixed.stable_hash() != EmbedConfig().stable_hash()


@pytest.mark.parametrize("name", ["resnet18_2d", "vgg19_2d"])
def test_weights_round_trip_through_a_local_file(name: str, tmp_path: Path, rng: np.random.Generator) -> None:
    import torch

    source = EXTRACTORS[name].build(seed=7)
    torch.save(source.state_dict(), tmp_path / f"{name}.pt")
    model = EXTRACTORS[name].build(seed=0)
    report = load_weights(model, tmp_path / f"{name}.pt", extractor=name)
    images = rng.normal(size=(2, GRID_2D, GRID_2D))
    np.testing.assert_array_equal(embed_images(model, images), embed_images(source, images))
    assert report.missing == () and report.unexpected == () and report.converted == ()


def test_torchvision_style_files_rgb_stem_and_heads(tmp_path: Path, rng: np.random.Generator) -> None:
    """An RGB checkpoint with a classifier: stem summed over colours, head ignored or truncated."""
    import torch

    gray = build_vgg19(seed=3, reduction="fc1_truncated")
    state = {k: v.clone() for k, v in gray.state_dict().items()}
    w = state["features.0.weight"]
    state["features.0.weight"] = torch.cat([w * 0.2, w * 0.3, w * 0.5], dim=1)  # sums back to w
    fc = state.pop("classifier.0.weight")
    state["classifier.0.weight"] = torch.cat([fc, torch.ones(4096 - 128, fc.shape[1])])
    state["classifier.0.bias"] = torch.cat([state["classifier.0.bias"], torch.ones(4096 - 128)])
    state["classifier.6.weight"] = torch.zeros(1000, 4096)
    torch.save(state, tmp_path / "vgg19_rgb.pth")

    model = build_vgg19(seed=0, reduction="fc1_truncated")
    report = load_weights(model, tmp_path / "vgg19_rgb.pth", extractor="vgg19_2d")
    images = rng.normal(size=(2, GRID_2D, GRID_2D))
    np.testing.assert_allclose(embed_images(model, images), embed_images(gray, images), rtol=1e-4, atol=1e-5)
    assert report.ignored == ("classifier.6.weight",)
    assert report.converted == ("classifier.0.bias (first 128 of 4096 rows)",
                                "classifier.0.weight (first 128 of 4096 rows)",
                                "features.0.weight (RGB stem summed over 3 channels)")
    # the default reduction has no classifier: every classifier tensor is an ignored head
    report = load_weights(build_vgg19(seed=0), tmp_path / "vgg19_rgb.pth", extractor="vgg19_2d")
    assert len(report.ignored) == 3 and report.unexpected == ()


def test_wrong_architecture_weights_are_refused(tmp_path: Path) -> None:
    import torch

    torch.save(build_vgg19(seed=0).state_dict(), tmp_path / "vgg.pt")
    torch.save(build_resnet18_2d(seed=0).state_dict(), tmp_path / "r2d.pt")
    with pytest.raises(WeightsError, match=r"weights .*vgg.pt: expected the keys of a 2-D ResNet-18 .*; found "
                                           r"\d+ missing .* and 32 unexpected .* It looks saved from a vgg19_2d "
                                           r"network: choose that extractor \(--extractor vgg19_2d\).*"
                                           r"--no-strict-weights"):
        load_weights(build_resnet18_2d(seed=0), tmp_path / "vgg.pt", extractor="resnet18_2d")
    # a 2-D ResNet file into the 3-D one: same names, wrong shapes
    with pytest.raises(WeightsError, match=r"r2d.pt: expected tensors of a MedicalNet ResNet-18 backbone .* for "
                                           r"extractor resnet18_3d; \d+ tensor\(s\) do not fit: conv1\.weight "
                                           r"\(expected \(64, 1, 7, 7, 7\), found \(64, 1, 7, 7\)\)"):
        load_weights(EXTRACTORS["resnet18_3d"].build(seed=0), tmp_path / "r2d.pt")


def test_weights_per_extractor_identity_and_states(tmp_path: Path) -> None:
    import torch

    torch.save(build_vgg19(seed=5).state_dict(), tmp_path / "vgg.pt")
    cfg = EmbedConfig(extractor="resnet18_2d", sequence_extractors={"US_LN": "vgg19_2d"},
                      extractor_weights={"vgg19_2d": str(tmp_path / "vgg.pt")})
    states, reports = prepare_all_weights(cfg)
    assert list(states) == ["vgg19_2d"] and reports["vgg19_2d"].missing == ()
    sha, text = weights_identity(cfg)
    assert sha is not None and text.startswith("resnet18_2d=random(seed=0); vgg19_2d=sha256:")
    # one file among random extractors: the seed still counts
    assert cfg.stable_hash(sha) != cfg.with_(seed=1).stable_hash(sha)
    assert weights_identity(EmbedConfig()) == (None, "random(seed=0)")
    with pytest.raises(ConfigError, match=r"embed.extractor_weights\['resnet18_3d'\]: expected weights of "
                                          r"extractors other than embed.extractor .* Keep one of the two"):
        EmbedConfig(weights="a.pth", extractor_weights={"resnet18_3d": "b.pth"})


def test_embed_inputs_matches_per_dims(rng: np.random.Generator) -> None:
    model = build_resnet18_2d(seed=0)
    x = rng.normal(size=(2, 1, GRID_2D, GRID_2D))
    np.testing.assert_array_equal(embed_inputs(model, x, spatial_dims=2), embed_images(model, x[:, 0]))

"""The embedding network: architecture, determinism, batching."""

from __future__ import annotations

import numpy as np
import pytest

from alnm_ray.embed.model import EMBEDDING_DIM, FEATURE_COLUMNS, build_resnet18, embed_volumes


def test_architecture_matches_medicalnet_resnet18() -> None:
    import torch

    model = build_resnet18(seed=0)
    assert isinstance(model.fc, torch.nn.Identity)
    assert model.conv1.in_channels == 1
    assert model.conv1.kernel_size == (7, 7, 7) and model.conv1.stride == (2, 2, 2)
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [2, 2, 2, 2]
    # type-A shortcuts have no parameters: no downsample tensors anywhere
    assert not [k for k in model.state_dict() if "downsample" in k]
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_output_shape_and_columns(rng: np.random.Generator) -> None:
    model = build_resnet18(seed=0)
    out = embed_volumes(model, rng.normal(size=(3, 32, 32, 32)))
    assert out.shape == (3, EMBEDDING_DIM) and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert FEATURE_COLUMNS[0] == "deep_000" and FEATURE_COLUMNS[-1] == "deep_511"
    assert len(FEATURE_COLUMNS) == EMBEDDING_DIM


def test_same_seed_same_embedding_other_seed_differs(rng: np.random.Generator) -> None:
    x = rng.normal(size=(2, 32, 32, 32))
    a = embed_volumes(build_resnet18(seed=5), x)
    b = embed_volumes(build_resnet18(seed=5), x)
    c = embed_volumes(build_resnet18(seed=6), x)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_seeded_build_leaves_global_rng_alone() -> None:
    import torch

    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    build_resnet18(seed=99)
    assert torch.equal(torch.rand(3), expected)


def test_batching_does_not_change_results(rng: np.random.Generator) -> None:
    model = build_resnet18(seed=0)
    x = rng.normal(size=(4, 32, 32, 32))
    together = embed_volumes(model, x)
    alone = np.concatenate([embed_volumes(model, x[i:i + 1]) for i in range(4)])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)


def test_thin_volumes_are_accepted(rng: np.random.Generator) -> None:
    out = embed_volumes(build_resnet18(seed=0), rng.normal(size=(2, 1, 4, 32, 32)))
    assert out.shape == (2, EMBEDDING_DIM)


def test_wrong_rank_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"expected shape \(N, D, H, W\)"):
        embed_volumes(build_resnet18(seed=0), np.zeros((32, 32)))

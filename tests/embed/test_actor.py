"""EmbedActor called in-process (the Ray path is covered by test_job/test_multinode)."""

from __future__ import annotations

import numpy as np

from alnm_ray.embed.actor import (
    COL_DEVICE, COL_EMBEDDING, COL_ERROR_MESSAGE, COL_ERROR_TYPE, COL_SHAPE, COL_VOLUME, EmbedActor, pick_device,
)
from alnm_ray.embed.config import EmbedConfig
from alnm_ray.embed.model import build_resnet18, embed_volumes
from alnm_ray.embed.weights import prepare_weights


def _batch(vols: list[np.ndarray | None]) -> dict[str, np.ndarray]:
    return {
        "_row": np.arange(len(vols)),
        COL_VOLUME: np.array([b"" if v is None else v.astype(np.float32).tobytes() for v in vols], dtype=object),
        COL_SHAPE: np.array([[0, 0, 0] if v is None else list(v.shape) for v in vols]),
        COL_ERROR_TYPE: np.array(["" if v is not None else "ExtractionError" for v in vols], dtype=object),
        COL_ERROR_MESSAGE: np.array(["" if v is not None else "constant crop" for v in vols], dtype=object),
    }


def test_mixed_shapes_and_failed_rows(rng: np.random.Generator, embed_config: EmbedConfig) -> None:
    thick, thin = rng.normal(size=(32, 32, 32)), rng.normal(size=(4, 32, 32))
    actor = EmbedActor(embed_config.to_dict(), in_ray=False)
    out = actor(_batch([thick, None, thin, thick]))
    emb = out[COL_EMBEDDING]
    assert emb.shape == (4, 512) and COL_VOLUME not in out
    assert np.isnan(emb[1]).all() and out[COL_ERROR_TYPE][1] == "ExtractionError"
    reference = build_resnet18(seed=embed_config.seed)
    np.testing.assert_allclose(emb[0], embed_volumes(reference, thick[None])[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(emb[2], embed_volumes(reference, thin[None])[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(emb[0], emb[3])
    assert list(out[COL_DEVICE]) == ["cpu"] * 4


def test_actor_uses_a_shipped_state_dict(weights_file, rng: np.random.Generator, embed_config: EmbedConfig) -> None:
    state, _ = prepare_weights(weights_file)
    vol = rng.normal(size=(32, 32, 32))
    out = EmbedActor(embed_config.to_dict(), state=[state], in_ray=False)(_batch([vol]))
    expected = embed_volumes(build_resnet18(seed=123), vol[None])
    np.testing.assert_allclose(out[COL_EMBEDDING], expected, rtol=1e-4, atol=1e-5)


def test_gpu_without_cuda_falls_back_to_cpu() -> None:
    import torch

    if torch.cuda.is_available():  # pragma: no cover - CPU CI
        assert pick_device([0]) == "cuda"
    else:
        assert pick_device([0]) == "cpu"
    assert pick_device([]) == "cpu"


def test_a_capped_forward_pass_embeds_in_chunks_with_the_same_result(rng: np.random.Generator,
                                                                     embed_config: EmbedConfig) -> None:
    vols = [rng.normal(size=(16, 16, 16)) for _ in range(5)]
    actor = EmbedActor(embed_config.to_dict(), in_ray=False, device="cpu")
    whole = actor(_batch(vols))[COL_EMBEDDING]
    actor.max_pass = 2  # what a GPU actor keeps after running out of memory: passes of 2, 2 and 1
    chunked = actor(_batch(vols))[COL_EMBEDDING]
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-6)
    assert chunked.shape == (5, 512) and not np.isnan(chunked).any()


def test_gpu_pass_size_from_free_memory() -> None:
    from alnm_ray.embed.actor import GPU_MAX_PASS, inputs_per_pass

    assert inputs_per_pass(10 * 2**30, 100 * 2**20, fraction=0.5) == 51
    assert inputs_per_pass(2**20, 2**30) == 1  # one input that may not fit: tried, and split no further
    assert inputs_per_pass(2**40, 2**10) == GPU_MAX_PASS
    assert inputs_per_pass(2**30, 0) == GPU_MAX_PASS


def test_a_cpu_actor_embeds_a_batch_in_one_pass_without_sizing(rng: np.random.Generator,
                                                              embed_config: EmbedConfig) -> None:
    actor = EmbedActor(embed_config.to_dict(), in_ray=False, device="cpu")
    out = actor(_batch([rng.normal(size=(16, 16, 16)) for _ in range(3)]))[COL_EMBEDDING]
    assert out.shape == (3, 512) and not np.isnan(out).any()
    assert actor.pass_sizes == {} and actor.max_pass is None


def test_a_chosen_pass_size_splits_the_batch_with_the_same_result(rng: np.random.Generator,
                                                                  embed_config: EmbedConfig) -> None:
    vols = [rng.normal(size=(16, 16, 16)) for _ in range(5)]
    actor = EmbedActor(embed_config.to_dict(), in_ray=False, device="cpu")
    whole = actor(_batch(vols))[COL_EMBEDDING]
    actor.pass_sizes[(embed_config.extractor, (16, 16, 16))] = 2  # what a GPU actor sizes from its free memory
    np.testing.assert_allclose(actor(_batch(vols))[COL_EMBEDDING], whole, rtol=1e-5, atol=1e-6)

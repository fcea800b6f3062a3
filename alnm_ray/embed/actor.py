"""The Ray Data actor that embeds batches of prepared volumes and images.

One :class:`EmbedActor` per pool slot: each extractor's network is built (and
its weights loaded) once, on first use, then every call embeds one batch.
Rows arrive from the preparing stage (:func:`alnm_ray.embed.cases.prepare_row`)
with the input as raw float32 bytes plus its shape, and their ``sequence``
selects the extractor (:meth:`EmbedConfig.extractor_for`), so 3-D, lifted
2-D and 2-D cases can share a batch; rows of one extractor and shape are
stacked into one forward pass each on the CPU.  On a GPU the actor chooses
its pass size for the device: the first input of each extractor and shape is
embedded alone while the allocator's peak is measured, and a pass then holds
as many inputs as :data:`GPU_MEMORY_FRACTION` of the device's free memory
takes at that peak per input (:func:`inputs_per_pass`); a pass that still
runs out of memory is split in halves, and the actor remembers the size that
fitted.

The networks are plain torch (:mod:`alnm_ray.embed.resnet`, :mod:`alnm_ray.embed.vgg`):
an actor never imports MONAI, whose import is most of an actor's start-up.  The embedding column is as wide as the
widest extractor in use; a narrower one's rows are NaN beyond its width.

Rows that failed earlier (non-empty ``_error_type``) pass through untouched
with a NaN embedding; a forward pass that fails marks its rows failed the same
way, so one bad batch never drops cases silently.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import numpy as np

from alnm_ray.embed.config import EmbedConfig
from alnm_ray.embed.extractors import EXTRACTOR_NAMES, EXTRACTORS
from alnm_ray.embed.model import embed_inputs, set_torch_threads

logger = logging.getLogger(__name__)

#: Share of a GPU's free memory (read when an actor first embeds an input shape) its forward passes may take.
GPU_MEMORY_FRACTION = 0.6
#: Largest forward pass of a GPU actor, whatever its memory allows (beyond this a pass gains nothing).
GPU_MAX_PASS = 512

#: Internal columns between the stages (dropped before the store).
COL_VOLUME = "_vol"
COL_SHAPE = "_shape"
COL_EMBEDDING = "_embedding"
COL_ERROR_TYPE = "_error_type"
COL_ERROR_MESSAGE = "_error_message"
COL_NODE = "_node"
COL_DEVICE = "_device"


def _out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is torch running out of device memory (CUDA's or a generic allocator's)."""
    return type(err).__name__ == "OutOfMemoryError" or "out of memory" in str(err).lower()


def inputs_per_pass(free_bytes: int, per_input_bytes: int, *, fraction: float = GPU_MEMORY_FRACTION,
                    largest: int = GPU_MAX_PASS) -> int:
    """Inputs per forward pass that fit ``fraction`` of ``free_bytes`` at ``per_input_bytes`` each (1 to ``largest``).

    Example:
        >>> inputs_per_pass(80 * 2**30, 40 * 2**20), inputs_per_pass(2**30, 2**31), inputs_per_pass(2**40, 1)
        (512, 1, 512)
        >>> inputs_per_pass(10 * 2**30, 60 * 2**20)
        102
    """
    if per_input_bytes <= 0:
        return largest
    return max(1, min(largest, int(free_bytes * fraction // per_input_bytes)))


def pick_device(gpu_ids: list[Any]) -> str:
    """``"cuda"`` when Ray assigned a GPU and torch can use CUDA, else ``"cpu"``.

    A node may declare a GPU resource that torch cannot use (a CPU-only torch
    build, a missing driver, a test cluster's fake GPU): the actor then still
    runs, on the CPU, and logs a warning once.
    """
    import torch

    if gpu_ids and torch.cuda.is_available():
        return "cuda"
    if gpu_ids:
        logger.warning("actor holds GPU %s but torch has no CUDA (torch %s); embedding on the CPU",
                       gpu_ids, torch.__version__)
    return "cpu"


class EmbedActor:
    """Callable class for ``Dataset.map_batches(..., compute=ActorPoolStrategy(...))``.

    Args:
        config: :meth:`EmbedConfig.to_dict` output (plain types travel well).
        state: ``None`` for random weights, or a one-item list holding a
            ``{extractor: state_dict}`` mapping
            (:func:`alnm_ray.embed.weights.prepare_all_weights`), its
            ``ObjectRef``, or one mapped state dict of ``config.extractor``
            (:func:`alnm_ray.embed.weights.prepare_weights`).  The list keeps
            Ray from resolving the ref before the actor decides to.  An
            extractor without a state keeps its random init from ``seed``.
        in_ray: Read the node id and GPU ids from Ray (``False`` for a plain,
            in-process use such as the benchmark's baseline).
        device: Torch device to use (``"cpu"``, ``"cuda"``); ``None`` picks it
            from the GPUs Ray assigned (:func:`pick_device`).
    """

    def __init__(self, config: dict[str, Any], state: list[Any] | None = None, in_ray: bool = True,
                 device: str | None = None) -> None:
        cfg = EmbedConfig.from_dict(config)
        set_torch_threads(cfg.threads)
        gpu_ids: list[Any] = []
        self.node = "local"
        if in_ray:
            import ray

            gpu_ids = list(ray.get_gpu_ids())
            self.node = ray.get_runtime_context().get_node_id()
        self.device = device or pick_device(gpu_ids)
        #: Largest forward pass known to fit on this device (``None``: not limited yet).
        self.max_pass: int | None = None
        #: GPU pass size chosen per ``(extractor, input shape)`` (:meth:`gpu_pass_size`).
        self.pass_sizes: dict[tuple[str, tuple[int, ...]], int] = {}
        self.config = cfg
        self.states: dict[str, Any] = {}
        if state is not None:
            weights = state[0]
            if not isinstance(weights, dict):
                import ray

                weights = ray.get(weights)
            per_extractor = bool(weights) and all(k in EXTRACTOR_NAMES for k in weights)
            self.states = dict(weights) if per_extractor else {cfg.extractor: weights}
        self.models: dict[str, Any] = {}
        self.model = self.get_model(cfg.extractor)  # built now: a bad state fails at start-up

    def get_model(self, name: str) -> Any:
        """The network of extractor ``name`` on this actor's device (built on first use)."""
        if name not in self.models:
            model = self.config.build_model(name)
            if name in self.states:
                model.load_state_dict(self.states[name], strict=True)
            self.models[name] = model.to(self.device).eval()
        return self.models[name]

    def embed_stack(self, name: str, stack: np.ndarray) -> np.ndarray:
        """Embed ``stack`` (``(N, *spatial)``) with extractor ``name`` in as few forward passes as fit.

        On CPU one pass.  On a GPU a pass that runs out of memory is retried
        in halves (down to one input), and the size that fitted caps later passes.

        Raises:
            RuntimeError: When a single input does not fit, or any other torch error.
        """
        spec = EXTRACTORS[name]
        model = self.get_model(name)
        parts, start = [], 0
        if self.device != "cpu" and (name, stack.shape[1:]) not in self.pass_sizes:
            parts.append(self.gpu_pass_size(name, stack[:1]))
            start = 1
        limit = self.pass_sizes.get((name, stack.shape[1:]))
        if self.max_pass is not None:
            limit = self.max_pass if limit is None else min(limit, self.max_pass)
        size = len(stack) if limit is None else max(1, min(len(stack), limit))
        while start < len(stack):
            chunk = stack[start:start + size]
            try:
                parts.append(embed_inputs(model, chunk, spatial_dims=spec.spatial_dims, device=self.device))
            except RuntimeError as err:
                if self.device == "cpu" or not _out_of_memory(err) or size == 1:
                    raise
                size = max(1, size // 2)
                self.max_pass = size
                logger.info("forward pass of %d input(s) ran out of %s memory; using %d", len(chunk),
                            self.device, size)
                _empty_cache()
                continue
            start += len(chunk)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def gpu_pass_size(self, name: str, first: np.ndarray) -> np.ndarray:
        """Embed ``first`` (one input) alone, measuring the device memory it takes, and size later passes from it.

        Sets ``pass_sizes[(name, shape)]`` to :func:`inputs_per_pass` of the
        free memory after this pass and the allocator's peak above what was
        allocated before it.  Returns the embedding of ``first``.
        """
        import torch

        spec = EXTRACTORS[name]
        model = self.get_model(name)
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        emb = embed_inputs(model, first, spatial_dims=spec.spatial_dims, device=self.device)
        per_input = max(1, torch.cuda.max_memory_allocated() - before)
        free, _total = torch.cuda.mem_get_info()
        size = inputs_per_pass(int(free), int(per_input))
        self.pass_sizes[(name, tuple(first.shape[1:]))] = size
        logger.info("%s on %s: %.1f MiB per %s input, %.1f GiB free: %d input(s) per forward pass", name,
                    self.device, per_input / 2**20, tuple(first.shape[1:]), free / 2**30, size)
        return emb

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Embed one batch.

        Args:
            batch: Numpy batch with :data:`COL_VOLUME`, :data:`COL_SHAPE`,
                :data:`COL_ERROR_TYPE`, :data:`COL_ERROR_MESSAGE` and any key
                columns (passed through).

        Returns:
            The batch without the volumes, plus :data:`COL_EMBEDDING`
            ``(N, config.embedding_width)`` float32 (NaN rows for failures),
            :data:`COL_NODE` and :data:`COL_DEVICE`.
        """
        n = len(batch[COL_VOLUME])
        err_type = [str(e or "") for e in batch[COL_ERROR_TYPE]]
        err_msg = [str(m or "") for m in batch[COL_ERROR_MESSAGE]]
        out = np.full((n, self.config.embedding_width), np.nan, dtype=np.float32)
        sequences = batch.get("sequence")
        groups: dict[tuple[str, tuple[int, ...]], list[int]] = defaultdict(list)
        for i in range(n):
            if not err_type[i]:
                name = self.config.extractor_for(None if sequences is None else str(sequences[i]))
                shape = tuple(int(s) for s in batch[COL_SHAPE][i] if int(s) > 0)
                groups[(name, shape)].append(i)
        for (name, shape), rows in groups.items():
            try:
                stack = np.stack([np.frombuffer(batch[COL_VOLUME][i], dtype=np.float32).reshape(shape)
                                  for i in rows])
                emb = self.embed_stack(name, stack)
                out[rows, : emb.shape[1]] = emb
            except (RuntimeError, ValueError, MemoryError) as err:  # e.g. CUDA OOM for this group
                logger.warning("embedding a group of %d volume(s) %s failed: %s", len(rows), shape, err)
                for i in rows:
                    err_type[i] = type(err).__name__
                    err_msg[i] = (f"embedding the {shape} input with {name} failed on {self.device}: {err}. "
                                  "Lower --batch-size or use a smaller --grid / grid_2d.")
        result = {k: v for k, v in batch.items() if k not in (COL_VOLUME, COL_SHAPE)}
        result[COL_EMBEDDING] = out
        result[COL_ERROR_TYPE] = np.asarray(err_type, dtype=object)
        result[COL_ERROR_MESSAGE] = np.asarray(err_msg, dtype=object)
        result[COL_NODE] = np.asarray([self.node] * n, dtype=object)
        result[COL_DEVICE] = np.asarray([self.device] * n, dtype=object)
        return result


def _empty_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()

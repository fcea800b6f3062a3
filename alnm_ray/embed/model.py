"""The embedding network: MONAI's 3-D ResNet-18 with the classifier removed.

The architecture matches MedicalNet's ResNet-18 (Chen et al., "Med3D",
arXiv:1904.00625), the network the reference study fine-tuned: one input
channel, a 7³ stem convolution with stride 2, type-"A" shortcuts (parameter-free
zero-padded identity), four stages of two basic blocks, global average
pooling.  The fully-connected layer is an identity, so a forward pass returns
the 512 pooled channels of the last stage.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily: importing alnm_ray.embed stays cheap
    import torch

logger = logging.getLogger(__name__)

#: Width of the embedding: the channels of ResNet-18's last stage.
EMBEDDING_DIM = 512
#: Stem kernel size and stride of MedicalNet's ResNet-18 (``conv1_t_size``, ``conv1_t_stride``).
STEM_KERNEL = 7
STEM_STRIDE = 2
#: MedicalNet's ResNet-18/34 use parameter-free type-"A" shortcuts.
SHORTCUT_TYPE = "A"
#: Column names of the embedding: ``deep_000`` … ``deep_511``.
FEATURE_COLUMNS: tuple[str, ...] = tuple(f"deep_{i:03d}" for i in range(EMBEDDING_DIM))


def build_resnet18(seed: int | None = 0) -> "torch.nn.Module":
    """Build the embedding network in eval mode.

    Args:
        seed: Seed of the random initialisation (MONAI's Kaiming-normal
            convolutions).  The global torch RNG is left untouched: the seed
            is applied inside :func:`torch.random.fork_rng`.  ``None`` draws
            from the global RNG (only useful when weights are loaded next).

    Returns:
        A :class:`monai.networks.nets.ResNet` whose ``fc`` is
        :class:`torch.nn.Identity`; input ``(N, 1, D, H, W)`` float32,
        output ``(N, 512)``.

    Example:
        >>> import torch
        >>> model = build_resnet18(seed=0)
        >>> tuple(model(torch.zeros(1, 1, 16, 16, 16)).shape)
        (1, 512)
    """
    import torch
    from monai.networks.nets import resnet18

    def _build() -> torch.nn.Module:
        return resnet18(
            spatial_dims=3,
            n_input_channels=1,
            conv1_t_size=STEM_KERNEL,
            conv1_t_stride=STEM_STRIDE,
            shortcut_type=SHORTCUT_TYPE,
            feed_forward=False,
        )

    if seed is None:
        model = _build()
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = _build()
    # feed_forward=False leaves fc=None; an explicit identity documents intent
    # and keeps ``model.fc`` addressable like torchvision's ResNets.
    model.fc = torch.nn.Identity()
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def embed_volumes(model: "torch.nn.Module", volumes: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Embed a stack of equally shaped volumes in one forward pass.

    Args:
        model: The network from :func:`build_resnet18` (already on ``device``).
        volumes: Array ``(N, D, H, W)`` or ``(N, 1, D, H, W)``; cast to float32.
        device: Torch device string (``"cpu"``, ``"cuda"``, ``"cuda:0"``).

    Returns:
        Array ``(N, 512)`` float32 on the host.

    Raises:
        ValueError: When ``volumes`` is not 4-D or 5-D with one channel.
    """
    import torch

    arr = np.asarray(volumes, dtype=np.float32)
    if arr.ndim == 4:
        arr = arr[:, None]
    if arr.ndim != 5 or arr.shape[1] != 1:
        raise ValueError(
            f"volumes: expected shape (N, D, H, W) or (N, 1, D, H, W); got {arr.shape}. "
            "Stack single-channel volumes of one grid."
        )
    with torch.inference_mode():
        out = model(torch.from_numpy(np.ascontiguousarray(arr)).to(device))
    return out.detach().to("cpu").numpy().astype(np.float32, copy=False)


def set_torch_threads(n: int) -> None:
    """Pin torch's intra-op threads (and inter-op threads, when still possible).

    Ray actors each reserve a few CPUs; a torch that spreads over every core of
    the node would oversubscribe it.  ``set_num_interop_threads`` can only be
    called before the first parallel op of a process, so a later call is skipped.
    """
    import torch

    n = max(1, int(n))
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set or parallel work already ran in this process
        logger.debug("torch inter-op threads already fixed; left as they are")

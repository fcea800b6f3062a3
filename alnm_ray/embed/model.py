"""The default embedding network: MONAI's 3-D ResNet-18 with the classifier removed.

(The 2-D extractors live in :mod:`alnm_ray.embed.resnet2d` and
:mod:`alnm_ray.embed.vgg`; :mod:`alnm_ray.embed.extractors` names them all.)

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
        :class:`alnm_ray.embed.resnet.ResNet18` (MONAI's
        ``monai.networks.nets.resnet18``, module for module) whose ``fc`` is
        :class:`torch.nn.Identity`; input ``(N, 1, D, H, W)`` float32,
        output ``(N, 512)``.

    Example:
        >>> import torch
        >>> model = build_resnet18(seed=0)
        >>> tuple(model(torch.zeros(1, 1, 16, 16, 16)).shape)
        (1, 512)
    """
    import torch

    from alnm_ray.embed.resnet import ResNet18  # MONAI's resnet18, without importing MONAI in the actors

    def _build() -> torch.nn.Module:
        return ResNet18(
            spatial_dims=3,
            n_input_channels=1,
            conv1_t_size=STEM_KERNEL,
            conv1_t_stride=STEM_STRIDE,
            shortcut_type=SHORTCUT_TYPE,
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
    """Embed a stack of equally shaped volumes in one forward pass (3-D networks).

    Args:
        model: The network from :func:`build_resnet18` (already on ``device``).
        volumes: Array ``(N, D, H, W)`` or ``(N, 1, D, H, W)``; cast to float32.
        device: Torch device string (``"cpu"``, ``"cuda"``, ``"cuda:0"``).

    Returns:
        Array ``(N, 512)`` float32 on the host.

    Raises:
        ValueError: When ``volumes`` is not 4-D or 5-D with one channel.
    """
    return embed_inputs(model, volumes, spatial_dims=3, device=device)


def embed_images(model: "torch.nn.Module", images: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Embed a stack of equally shaped 2-D images in one forward pass (2-D networks).

    Args:
        model: A 2-D network (``resnet18_2d``, ``vgg19_2d``) already on ``device``.
        images: Array ``(N, H, W)`` or ``(N, 1, H, W)``; cast to float32.
        device: Torch device string.

    Returns:
        Array ``(N, width)`` float32 on the host.

    Raises:
        ValueError: When ``images`` is not 3-D or 4-D with one channel.

    Example:
        >>> from alnm_ray.embed.vgg import build_vgg19
        >>> embed_images(build_vgg19(seed=0), np.zeros((2, 32, 32))).shape
        (2, 128)
    """
    return embed_inputs(model, images, spatial_dims=2, device=device)


def embed_inputs(model: "torch.nn.Module", inputs: np.ndarray, *, spatial_dims: int,
                 device: str = "cpu") -> np.ndarray:
    """Embed a stack of equally shaped single-channel inputs of a 2-D or 3-D network.

    Args:
        model: The network (already on ``device``).
        inputs: ``(N, *spatial)`` or ``(N, 1, *spatial)`` with ``spatial_dims`` spatial axes.
        spatial_dims: 2 (images ``H, W``) or 3 (volumes ``D, H, W``).
        device: Torch device string.

    Returns:
        Array ``(N, width)`` float32 on the host.

    Raises:
        ValueError: When the array does not have ``spatial_dims`` spatial axes and one channel.
    """
    import torch

    arr = np.asarray(inputs, dtype=np.float32)
    if arr.ndim == spatial_dims + 1:
        arr = arr[:, None]
    if arr.ndim != spatial_dims + 2 or arr.shape[1] != 1:
        what, axes = ("volumes", "D, H, W") if spatial_dims == 3 else ("images", "H, W")
        fix = ("Stack single-channel volumes of one grid; 2-D images go to a 2-D extractor or are lifted "
               "to a thin slab (inputs.lift_2d)." if spatial_dims == 3 else
               "Stack single-channel 2-D images of one grid; 3-D volumes need the resnet18_3d extractor.")
        raise ValueError(f"{what}: expected shape (N, {axes}) or (N, 1, {axes}) for a {spatial_dims}-D "
                         f"network; got {arr.shape}. {fix}")
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

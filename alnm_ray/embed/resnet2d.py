"""The 2-D ResNet-18 of the mammography study (Liu et al. 2025, §2.5).

Liu et al. "adopted a pre-trained ResNet18 model by maintaining the original
kernel size, stride, and padding settings" and "removed the last full
connection layer … to obtain the intermediate features from the penultimate
layer": 512 values per view, 1,024 per patient for CC + MLO.

This is MONAI's ResNet-18 built to match torchvision's ``resnet18`` layer for
layer: a 7×7 stem convolution with stride 2 and padding 3 (no bias), a 3×3
max-pool with stride 2, four stages of two basic blocks with type-"B"
shortcuts (1×1 convolution without bias plus BatchNorm), global average
pooling.  Parameter names are torchvision's (``conv1``, ``bn1``,
``layer{1-4}.{0,1}.{conv,bn}{1,2}``, ``downsample.{0,1}``), so a torchvision
state dict loads key for key (:mod:`alnm_ray.embed.weights`).  One input
channel: an RGB checkpoint's stem is summed over its colour channels when
loaded, which equals feeding the grey image three times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: Width of the embedding: the channels of ResNet-18's last stage.
RESNET18_2D_DIM = 512
#: torchvision's stem: kernel 7, stride 2 (padding 3 follows from MONAI's ``kernel // 2``).
STEM_KERNEL_2D = 7
STEM_STRIDE_2D = 2
#: torchvision's ResNet-18 uses 1×1-convolution (type "B") shortcuts without bias.
SHORTCUT_TYPE_2D = "B"
#: Recorded with every store version that used this network.
RESNET18_2D_DESCRIPTION = (
    "monai.networks.nets.resnet18(spatial_dims=2, n_input_channels=1, conv1_t_size=7, conv1_t_stride=2, "
    "shortcut_type='B', bias_downsample=False, feed_forward=False); fc=Identity; eval; no grad "
    "(torchvision resnet18 layout)"
)


def build_resnet18_2d(seed: int | None = 0) -> "torch.nn.Module":
    """Build the 2-D ResNet-18 in eval mode, classifier removed.

    Args:
        seed: Seed of the random initialisation (MONAI's Kaiming-normal
            convolutions), applied inside :func:`torch.random.fork_rng` so the
            global RNG is untouched; ``None`` draws from the global RNG.

    Returns:
        :class:`alnm_ray.embed.resnet.ResNet18` (MONAI's ``resnet18``, module
        for module); input ``(N, 1, H, W)`` float32,
        output ``(N, 512)``.

    Example:
        >>> import torch
        >>> model = build_resnet18_2d(seed=0)
        >>> tuple(model(torch.zeros(2, 1, 64, 64)).shape)
        (2, 512)
    """
    import torch

    from alnm_ray.embed.resnet import ResNet18  # MONAI's resnet18, without importing MONAI in the actors

    def _build() -> torch.nn.Module:
        return ResNet18(spatial_dims=2, n_input_channels=1, conv1_t_size=STEM_KERNEL_2D,
                        conv1_t_stride=STEM_STRIDE_2D, shortcut_type=SHORTCUT_TYPE_2D, bias_downsample=False)

    if seed is None:
        model = _build()
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = _build()
    model.fc = torch.nn.Identity()
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model

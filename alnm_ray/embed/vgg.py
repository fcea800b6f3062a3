"""The VGG-19 of the ultrasound study (Zhang et al. 2025), reduced to 128 values.

Zhang et al. "implemented a deep convolutional neural network based on the
VGG19 architecture" and extracted "128 deep-learning features" per ROI; the
paper (and its main text's pointers to the supplementary material) does not
say how VGG-19's 512 channels became 128.  The network here is
configuration "E" of Simonyan & Zisserman (arXiv:1409.1556): sixteen 3×3
convolutions with ReLU in five blocks (64, 64 | 128, 128 | 256 ×4 | 512 ×4 |
512 ×4), each block closed by a 2×2 max-pool, one input channel.  Layer
indices and names are torchvision's ``vgg19().features`` (``features.0`` …
``features.34``), so a torchvision state dict loads key for key.

The 512 → 128 reduction is selectable (:data:`VGG_REDUCTIONS`); none is
learned from data and none needs training:

* ``channel_group_mean`` (default, *assumed*): global average pooling of the
  last block's 512 channels, then the mean of each group of 4 consecutive
  channels → 128.  Deterministic, label-free, and defined for any input
  grid; it keeps every channel's contribution.
* ``fc1_truncated``: torchvision's head up to the first fully-connected layer
  (adaptive average pool to 7×7, flatten to 25,088, ``classifier.0``, ReLU)
  keeping its first 128 of 4,096 units.  Meaningful only with a checkpoint
  that carries ``classifier.0`` (its rows 0–127 are loaded); with random
  weights it is a random projection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: Width of the embedding (Zhang et al.: 128 deep-learning features per ROI).
VGG19_DIM = 128
#: Channels of VGG-19's last convolution.
VGG19_CHANNELS = 512
#: Configuration "E": output channels of the 16 convolutions, "M" a 2×2 max-pool.
VGG19_LAYOUT: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                       512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
#: How 512 channels become 128 (see the module docstring).
VGG_REDUCTIONS: tuple[str, ...] = ("channel_group_mean", "fc1_truncated")
#: assumed: the paper does not state the 512 -> 128 step; a channel-group mean is
#: deterministic, label-free, needs no training and no weights beyond the convolutions.
DEFAULT_VGG_REDUCTION = "channel_group_mean"
#: torchvision's head: 7×7 adaptive average pool before ``classifier.0``.
FC1_POOL = 7


def vgg19_description(reduction: str) -> str:
    """The architecture as recorded with every store version that used it."""
    head = ("AdaptiveAvgPool2d(1), mean of 128 groups of 4 consecutive channels"
            if reduction == "channel_group_mean" else
            "AdaptiveAvgPool2d(7), flatten, classifier.0 rows 0-127 (Linear 25088->128), ReLU")
    return f"VGG-19 configuration E (torchvision features.0-36 layout), 1 input channel; {head}; eval; no grad"


def build_vgg19(seed: int | None = 0, reduction: str = DEFAULT_VGG_REDUCTION) -> "torch.nn.Module":
    """Build the VGG-19 embedding network in eval mode.

    Args:
        seed: Seed of the random initialisation (torchvision's: Kaiming-normal
            ``fan_out`` convolutions, zero biases, N(0, 0.01) linear weights),
            applied inside :func:`torch.random.fork_rng`; ``None`` draws from
            the global RNG.
        reduction: One of :data:`VGG_REDUCTIONS`.

    Returns:
        A module with ``features`` (torchvision layout) and, for
        ``fc1_truncated``, ``classifier`` (``classifier.0`` only); input
        ``(N, 1, H, W)`` float32 with ``H, W >= 32``, output ``(N, 128)``.

    Raises:
        ValueError: For an unknown ``reduction``.

    Example:
        >>> import torch
        >>> model = build_vgg19(seed=0)
        >>> tuple(model(torch.zeros(2, 1, 32, 32)).shape)
        (2, 128)
    """
    import torch

    if reduction not in VGG_REDUCTIONS:
        raise ValueError(f"vgg reduction: expected one of {list(VGG_REDUCTIONS)}; got {reduction!r}. "
                         "Pick one of the listed reductions.")
    if seed is None:
        model = _VGG19(reduction)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = _VGG19(reduction)
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def _make_features() -> "torch.nn.Sequential":
    from torch import nn

    layers: list[nn.Module] = []
    channels = 1
    for item in VGG19_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = int(item)
    return nn.Sequential(*layers)


def _module_class() -> type:
    from torch import nn

    class VGG19Embedding(nn.Module):
        """VGG-19 features plus a fixed 512 -> 128 reduction (see the module docstring)."""

        def __init__(self, reduction: str) -> None:
            super().__init__()
            self.reduction = reduction
            self.features = _make_features()
            if reduction == "fc1_truncated":
                self.avgpool = nn.AdaptiveAvgPool2d((FC1_POOL, FC1_POOL))
                self.classifier = nn.Sequential(nn.Linear(VGG19_CHANNELS * FC1_POOL * FC1_POOL, VGG19_DIM),
                                                nn.ReLU(inplace=True))
            else:
                self.avgpool = nn.AdaptiveAvgPool2d(1)
            for m in self.modules():  # torchvision's VGG initialisation
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

        def forward(self, x):  # noqa: ANN001, ANN202 - torch types are imported lazily
            x = self.avgpool(self.features(x))
            if self.reduction == "fc1_truncated":
                return self.classifier(x.flatten(1))
            x = x.flatten(1)  # (N, 512)
            return x.reshape(x.shape[0], VGG19_DIM, VGG19_CHANNELS // VGG19_DIM).mean(dim=2)

    return VGG19Embedding


_CLASS: type | None = None


def _VGG19(reduction: str) -> "torch.nn.Module":  # noqa: N802 - reads as a constructor
    global _CLASS
    if _CLASS is None:
        _CLASS = _module_class()
    return _CLASS(reduction)

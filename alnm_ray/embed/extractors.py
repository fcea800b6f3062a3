"""The registry of deep-feature extractors: name -> architecture, input, width.

=============== ======== ===================== ====== ====================================
name            input    network               width  study
=============== ======== ===================== ====== ====================================
``resnet18_3d`` 3-D      MedicalNet ResNet-18   512   Guo 2024 (MRI); 2-D crops are lifted
``resnet18_2d`` 2-D      torchvision ResNet-18  512   Liu 2025 (mammography, CC + MLO)
``vgg19_2d``    2-D      VGG-19 (config. E)     128   Zhang 2025 (ultrasound, tumour + LN)
=============== ======== ===================== ====== ====================================

Every extractor names its columns ``deep_000`` … ``deep_<width-1>``; the
store's wide view prefixes them with the sequence (``MG_CC__deep_000``), so
two sequences never collide.  A table mixing widths has the widest set of
columns, and rows of a narrower extractor are NaN beyond their width.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alnm_ray._validation import look_up_option

if TYPE_CHECKING:
    import torch

#: Column prefix of every deep feature.
DEEP_PREFIX = "deep_"
#: The default extractor (the reference study's, unchanged).
DEFAULT_EXTRACTOR = "resnet18_3d"


def deep_columns(width: int) -> tuple[str, ...]:
    """``deep_000`` … ``deep_<width-1>``.

    Example:
        >>> deep_columns(3)
        ('deep_000', 'deep_001', 'deep_002')
    """
    return tuple(f"{DEEP_PREFIX}{i:03d}" for i in range(int(width)))


@dataclass(frozen=True)
class Extractor:
    """One deep-feature extractor.

    Attributes:
        name: Registry name.
        spatial_dims: 3 (input ``(N, 1, D, H, W)``) or 2 (input ``(N, 1, H, W)``).
        width: Values per case.
        summary: One line for help texts and the README.
    """

    name: str
    spatial_dims: int
    width: int
    summary: str

    @property
    def columns(self) -> tuple[str, ...]:
        """Feature column names of this extractor."""
        return deep_columns(self.width)

    def build(self, seed: int | None = 0, **options: Any) -> "torch.nn.Module":
        """Build the network in eval mode (options: ``vgg_reduction`` for ``vgg19_2d``)."""
        return _BUILDERS[self.name](seed, options)

    def describe(self, **options: Any) -> str:
        """The architecture as recorded with a store version."""
        return _DESCRIPTIONS[self.name](options)


def _build_resnet3d(seed: int | None, _options: dict[str, Any]) -> "torch.nn.Module":
    from alnm_ray.embed.model import build_resnet18

    return build_resnet18(seed=seed)


def _build_resnet2d(seed: int | None, _options: dict[str, Any]) -> "torch.nn.Module":
    from alnm_ray.embed.resnet2d import build_resnet18_2d

    return build_resnet18_2d(seed=seed)


def _build_vgg(seed: int | None, options: dict[str, Any]) -> "torch.nn.Module":
    from alnm_ray.embed.vgg import DEFAULT_VGG_REDUCTION, build_vgg19

    return build_vgg19(seed=seed, reduction=options.get("vgg_reduction") or DEFAULT_VGG_REDUCTION)


def _describe_vgg(options: dict[str, Any]) -> str:
    from alnm_ray.embed.vgg import DEFAULT_VGG_REDUCTION, vgg19_description

    return vgg19_description(options.get("vgg_reduction") or DEFAULT_VGG_REDUCTION)


def _describe_resnet2d(_options: dict[str, Any]) -> str:
    from alnm_ray.embed.resnet2d import RESNET18_2D_DESCRIPTION

    return RESNET18_2D_DESCRIPTION


_BUILDERS: dict[str, Callable[[int | None, dict[str, Any]], Any]] = {
    "resnet18_3d": _build_resnet3d, "resnet18_2d": _build_resnet2d, "vgg19_2d": _build_vgg,
}
_DESCRIPTIONS: dict[str, Callable[[dict[str, Any]], str]] = {
    "resnet18_3d": lambda _o: ("monai.networks.nets.resnet18(spatial_dims=3, n_input_channels=1, conv1_t_size=7, "
                               "conv1_t_stride=2, shortcut_type='A', feed_forward=False); fc=Identity; eval; no grad"),
    "resnet18_2d": _describe_resnet2d,
    "vgg19_2d": _describe_vgg,
}

#: Every extractor by name.
EXTRACTORS: dict[str, Extractor] = {
    "resnet18_3d": Extractor("resnet18_3d", 3, 512,
                             "3-D ResNet-18 (MedicalNet layout), 512 values; 2-D crops lifted to a thin slab"),
    "resnet18_2d": Extractor("resnet18_2d", 2, 512,
                             "2-D ResNet-18 (torchvision layout, 1 channel), 512 values per image"),
    "vgg19_2d": Extractor("vgg19_2d", 2, 128,
                          "2-D VGG-19 (configuration E, 1 channel), 512 channels reduced to 128 values"),
}
#: Registry names, in table order.
EXTRACTOR_NAMES: tuple[str, ...] = tuple(EXTRACTORS)


def get_extractor(name: str, *, what: str = "embed.extractor") -> Extractor:
    """Look an extractor up by name.

    Raises:
        ConfigError: For an unknown name, listing the known ones with a
            "did you mean" suggestion.

    Example:
        >>> get_extractor("vgg19_2d").width
        128
    """
    return EXTRACTORS[look_up_option(what, name, EXTRACTOR_NAMES)]

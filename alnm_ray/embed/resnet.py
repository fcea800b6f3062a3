"""ResNet-18 in plain torch, module for module MONAI's ``monai.networks.nets.resnet18``.

The embedding actors build their networks from this module so that an actor
never imports MONAI: ``import monai`` loads every MONAI subpackage (and
MLflow), about 4 s of CPU per actor process on an idle core and two to three
times that on a loaded one, paid by every actor at start-up for nothing the
forward pass uses.

:func:`resnet18` builds the same modules under the same names, in the same
order, with the same initialisation as MONAI 1.x's ``ResNet`` with
``ResNetBlock`` (``layers=(2, 2, 2, 2)``, ``block_inplanes=(64, 128, 256, 512)``,
ReLU, batch norm, a 3-wide max-pool of stride 2, adaptive average pooling,
``feed_forward=False``): the random draws of a seeded build, the state-dict
keys and every forward value are MONAI's (``tests/embed/test_resnet.py``
compares the two for both shortcut types and both spatial dimensions).

Import it lazily (it imports torch).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional

#: Channels of the four stages of ResNet-18.
BLOCK_INPLANES: tuple[int, int, int, int] = (64, 128, 256, 512)
#: Basic blocks per stage of ResNet-18.
LAYERS: tuple[int, int, int, int] = (2, 2, 2, 2)


def _layers(spatial_dims: int) -> tuple[Any, Any]:
    if spatial_dims not in (2, 3):
        raise ValueError(f"resnet18: expected spatial_dims 2 or 3; got {spatial_dims}.")
    return (nn.Conv3d, nn.BatchNorm3d) if spatial_dims == 3 else (nn.Conv2d, nn.BatchNorm2d)


class Subsample:
    """Type-"A" shortcut: ``avg_pool(kernel 1, stride)``, then zero channels up to ``planes`` (no parameters)."""

    def __init__(self, planes: int, stride: int, spatial_dims: int) -> None:
        self.planes, self.stride = planes, stride
        self.pool = functional.avg_pool3d if spatial_dims == 3 else functional.avg_pool2d

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pool(x, kernel_size=1, stride=self.stride)
        pad = torch.zeros(out.size(0), self.planes - out.size(1), *out.shape[2:], dtype=out.dtype, device=out.device)
        return torch.cat([out.data, pad], dim=1)


class ResNetBlock(nn.Module):
    """MONAI's basic block: two 3-wide convolutions with batch norm, ReLU, the shortcut added before the last ReLU."""

    def __init__(self, in_planes: int, planes: int, spatial_dims: int, stride: int = 1,
                 downsample: Any = None) -> None:
        super().__init__()
        conv, norm = _layers(spatial_dims)
        self.conv1 = conv(in_planes, planes, kernel_size=3, padding=1, stride=stride, bias=False)
        self.bn1 = norm(planes)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = conv(planes, planes, kernel_size=3, padding=1, bias=False)
        self.bn2 = norm(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        out += residual
        out = self.act(out)
        return out


class ResNet18(nn.Module):
    """ResNet-18 without classifier (``fc`` is ``None``); output ``(N, 512)``.

    Args:
        spatial_dims: 2 or 3.
        n_input_channels: Input channels.
        conv1_t_size: Stem kernel size (padding ``conv1_t_size // 2``).
        conv1_t_stride: Stem stride.
        shortcut_type: ``"A"`` (parameter-free: strided subsampling plus zero
            channels) or ``"B"`` (1-wide convolution plus batch norm).
        bias_downsample: Bias of the type-``"B"`` shortcut convolution.

    Raises:
        ValueError: For another ``spatial_dims`` or ``shortcut_type``.
    """

    def __init__(self, *, spatial_dims: int, n_input_channels: int = 1, conv1_t_size: int = 7,
                 conv1_t_stride: int = 1, shortcut_type: str = "B", bias_downsample: bool = True) -> None:
        super().__init__()
        conv, norm = _layers(spatial_dims)
        if shortcut_type not in ("A", "B"):
            raise ValueError(f"resnet18: expected shortcut_type 'A' or 'B'; got {shortcut_type!r}.")
        self.spatial_dims, self.shortcut_type = spatial_dims, shortcut_type
        self.in_planes = BLOCK_INPLANES[0]
        self.no_max_pool = False
        self.bias_downsample = bias_downsample
        self.conv1 = conv(n_input_channels, self.in_planes, kernel_size=conv1_t_size, stride=conv1_t_stride,
                          padding=conv1_t_size // 2, bias=False)
        self.bn1 = norm(self.in_planes)
        self.act = nn.ReLU(inplace=True)
        self.maxpool = (nn.MaxPool3d if spatial_dims == 3 else nn.MaxPool2d)(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(BLOCK_INPLANES[0], LAYERS[0])
        self.layer2 = self._make_layer(BLOCK_INPLANES[1], LAYERS[1], stride=2)
        self.layer3 = self._make_layer(BLOCK_INPLANES[2], LAYERS[2], stride=2)
        self.layer4 = self._make_layer(BLOCK_INPLANES[3], LAYERS[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1)) if spatial_dims == 3 else nn.AdaptiveAvgPool2d((1, 1))
        self.fc: Any = None
        for m in self.modules():  # MONAI's initialisation, in module order
            if isinstance(m, conv):
                nn.init.kaiming_normal_(torch.as_tensor(m.weight), mode="fan_out", nonlinearity="relu")
            elif isinstance(m, norm):
                nn.init.constant_(torch.as_tensor(m.weight), 1)
                nn.init.constant_(torch.as_tensor(m.bias), 0)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        conv, norm = _layers(self.spatial_dims)
        downsample: Any = None
        if stride != 1 or self.in_planes != planes:
            if self.shortcut_type == "A":
                downsample = Subsample(planes, stride, self.spatial_dims)
            else:  # built before the block, as MONAI does (the order of the random draws)
                downsample = nn.Sequential(conv(self.in_planes, planes, kernel_size=1, stride=stride,
                                                bias=self.bias_downsample), norm(planes))
        layers = [ResNetBlock(self.in_planes, planes, self.spatial_dims, stride=stride, downsample=downsample)]
        self.in_planes = planes
        layers.extend(ResNetBlock(self.in_planes, planes, self.spatial_dims) for _ in range(1, blocks))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn1(self.conv1(x)))
        if not self.no_max_pool:
            x = self.maxpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        x = x.view(x.size(0), -1)
        if self.fc is not None:
            x = self.fc(x)
        return x

"""The plain-torch ResNet-18 is MONAI's, module for module: same keys, same seeded draws, same outputs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nets = pytest.importorskip("monai.networks.nets")

from alnm_ray.embed.resnet import ResNet18  # noqa: E402

CASES = [  # the 3-D extractor (MedicalNet), the 2-D one (torchvision layout), MONAI's defaults
    ({"spatial_dims": 3, "conv1_t_size": 7, "conv1_t_stride": 2, "shortcut_type": "A"}, (2, 1, 32, 32, 32)),
    ({"spatial_dims": 2, "conv1_t_size": 7, "conv1_t_stride": 2, "shortcut_type": "B", "bias_downsample": False},
     (2, 1, 64, 64)),
    ({"spatial_dims": 3, "conv1_t_size": 3, "conv1_t_stride": 1, "shortcut_type": "B"}, (1, 1, 16, 16, 16)),
]


@pytest.mark.parametrize(("kwargs", "shape"), CASES)
def test_resnet18_matches_monai(kwargs: dict, shape: tuple) -> None:
    torch.manual_seed(3)
    ours = ResNet18(n_input_channels=1, **kwargs).eval()
    torch.manual_seed(3)
    ref = nets.resnet18(n_input_channels=1, feed_forward=False, **kwargs).eval()
    mine, theirs = ours.state_dict(), ref.state_dict()
    assert list(mine) == list(theirs)
    for key in theirs:
        assert torch.equal(mine[key], theirs[key]), key
    x = torch.from_numpy(np.random.default_rng(0).normal(size=shape).astype(np.float32))
    with torch.inference_mode():
        np.testing.assert_array_equal(ours(x).numpy(), ref(x).numpy())


def test_resnet18_rejects_unknown_options() -> None:
    with pytest.raises(ValueError, match="spatial_dims"):
        ResNet18(spatial_dims=1)
    with pytest.raises(ValueError, match="shortcut_type"):
        ResNet18(spatial_dims=3, shortcut_type="C")


def test_building_the_extractors_does_not_import_monai() -> None:
    code = ("import sys\nfrom alnm_ray.embed.extractors import EXTRACTORS\n"
            "for spec in EXTRACTORS.values():\n    spec.build(seed=0)\n"
            "from alnm_ray.embed.actor import EmbedActor\n"
            "assert 'monai' not in sys.modules, sorted(m for m in sys.modules if m.startswith('monai'))[:5]\n")
    subprocess.run([sys.executable, "-c", code], check=True)

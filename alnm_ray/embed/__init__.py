"""Deep embeddings: MONAI's 3-D ResNet-18 (one input channel, no classifier) by default.

Other extractors (:mod:`alnm_ray.embed.extractors`): ``resnet18_2d`` (2-D
ResNet-18, 512 values; mammography) and ``vgg19_2d`` (VGG-19 reduced to 128
values; ultrasound), chosen per run or per sequence.

One 512-value embedding per case (sequence), from the lesion's bounding box
plus a margin resized to a fixed grid, run by a Ray Data actor pool (GPU
actors when the cluster has GPUs, CPU actors otherwise) and stored as the
``deep`` table (columns ``deep_000`` … ``deep_511``).  Weights come from a
local MedicalNet-style checkpoint or a recorded random seed; nothing is
downloaded.

Torch, MONAI and Ray are imported only when a function needs them.
"""

from alnm_ray.embed.config import EmbedConfig
from alnm_ray.embed.extractors import EXTRACTOR_NAMES, EXTRACTORS, Extractor, get_extractor
from alnm_ray.embed.model import EMBEDDING_DIM, FEATURE_COLUMNS, build_resnet18, embed_images, embed_volumes
from alnm_ray.embed.resnet2d import build_resnet18_2d
from alnm_ray.embed.vgg import build_vgg19
from alnm_ray.embed.resources import ActorPlan, plan_actors
from alnm_ray.embed.weights import WeightsError, WeightsReport, load_weights, prepare_weights, read_checkpoint

__all__ = [
    "EMBEDDING_DIM",
    "EXTRACTORS",
    "EXTRACTOR_NAMES",
    "FEATURE_COLUMNS",
    "ActorPlan",
    "EmbedConfig",
    "EmbedSummary",
    "Extractor",
    "WeightsError",
    "WeightsReport",
    "build_resnet18",
    "build_resnet18_2d",
    "build_vgg19",
    "embed_images",
    "embed_volumes",
    "get_extractor",
    "load_weights",
    "plan_actors",
    "prepare_weights",
    "read_checkpoint",
    "run_embedding",
]


def __getattr__(name: str):  # the job pulls in preprocessing and the store: load on first use
    if name in ("run_embedding", "EmbedSummary"):
        from alnm_ray.embed import job

        return getattr(job, name)
    raise AttributeError(f"module 'alnm_ray.embed' has no attribute {name!r}")

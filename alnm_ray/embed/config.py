"""Configuration of the deep-embedding stage.

The defaults are the reference study's preset (Guo et al. 2024): one
MedicalNet ResNet-18 embedding (512 values) per sequence, from the lesion's
bounding box plus a margin, resized to 64³.  The study does not state its
input grid or margin; 64³ keeps a ResNet-18 forward pass under a second on
one CPU core and leaves a 2³ map after the network's 32-fold downsampling.

Other studies use 2-D extractors (:mod:`alnm_ray.embed.extractors`):
``resnet18_2d`` (Liu 2025, mammography) and ``vgg19_2d`` (Zhang 2025,
ultrasound), chosen for every sequence with ``extractor`` or per sequence
with ``sequence_extractors``.  They take the 2-D crop resized to ``grid_2d``
(224×224, *assumed*: the ImageNet input size both pretrained networks were
built for; neither paper states its grid) and z-scored ("normalized and
standardized": a min-max scaling followed by a z-score equals the z-score
alone, since both are affine).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from alnm_ray._validation import check_range, look_up_option
from alnm_ray.embed.extractors import DEFAULT_EXTRACTOR, EXTRACTOR_NAMES, EXTRACTORS, deep_columns, get_extractor
from alnm_ray.embed.vgg import DEFAULT_VGG_REDUCTION, VGG_REDUCTIONS
from alnm_ray.exceptions import ConfigError
from alnm_ray.typing import PathLike

#: Input grid (D, H, W) in voxels, numpy (z, y, x) order.
DEFAULT_GRID: tuple[int, int, int] = (64, 64, 64)
#: Peritumoural context around the mask's bounding box, in mm per side; 5 mm
#: is the ring most peritumoural-radiomics studies of breast MRI use.
DEFAULT_MARGIN_MM = 5.0
#: Slices of the thin volume a 2-D ROI is lifted to (see inputs.lift_2d).
DEFAULT_LIFT_DEPTH = 8
#: Interpolation modes of the resize to the grid (torch/MONAI names).
INTERPOLATION_MODES: tuple[str, ...] = ("trilinear", "area", "nearest")
#: Seed of the random initialisation when no weights file is given.
DEFAULT_SEED = 0
#: Smallest grid side: the network downsamples 32-fold.
MIN_GRID_SIDE = 8
#: assumed: input grid (H, W) of the 2-D extractors, the ImageNet size of the
#: pretrained ResNet-18 and VGG-19 (neither study states its grid).
DEFAULT_GRID_2D: tuple[int, int] = (224, 224)
#: Smallest 2-D side: both 2-D networks downsample 32-fold (VGG-19: five 2×2 pools).
MIN_GRID_2D_SIDE = 32

#: Fields that change the numbers an embedding produces (they enter the hash);
#: the others only change how the work is scheduled.
CONTENT_FIELDS: tuple[str, ...] = (
    "grid", "margin_mm", "lift_depth", "interpolation", "anti_aliasing", "seed", "strict_weights",
    "extractor", "sequence_extractors", "grid_2d", "vgg_reduction",
)
#: Content fields that enter the hash only when an extractor other than
#: ``resnet18_3d`` is in use, so stores embedded before the registry existed
#: keep their case hashes (``grid_2d`` only with a 2-D extractor,
#: ``vgg_reduction`` only with ``vgg19_2d``).
EXTRACTOR_FIELDS: tuple[str, ...] = ("extractor", "sequence_extractors", "grid_2d", "vgg_reduction")


@dataclass(frozen=True)
class EmbedConfig:
    """How to embed each case.  Frozen and validated at construction.

    Args:
        grid: Input grid ``(D, H, W)`` in voxels (numpy z, y, x order).
        margin_mm: Margin around the mask's bounding box, mm per side.
        lift_depth: Slices of the thin volume a 2-D image is lifted to
            (``1 <= lift_depth <= grid[0]``).
        interpolation: Resize mode: ``trilinear``, ``area`` or ``nearest``.
        anti_aliasing: Gaussian smoothing of axes that shrink (see
            :func:`alnm_ray.embed.inputs.resize`).
        batch_size: Volumes per forward pass (per Ray Data batch).
        pool_min: Smallest actor pool.
        pool_max: Largest actor pool; ``None`` sizes it from the cluster
            (GPUs / ``num_gpus_per_actor``, else CPUs / ``num_cpus_per_actor`` - 1,
            leaving room for the reading stage).
        num_cpus_per_actor: CPUs each actor reserves (and torch threads it uses).
        num_gpus_per_actor: GPUs each actor reserves when the cluster has GPUs
            (fractional values share a GPU).
        torch_threads: Torch intra-op threads per actor; ``None`` uses
            ``max(1, floor(num_cpus_per_actor))``.
        seed: Seed of the random initialisation (used when ``weights`` is ``None``
            and for tensors a non-strict load leaves missing).
        weights: Path of a state-dict file for ``extractor`` (MedicalNet-style
            for ``resnet18_3d``, torchvision layout for the 2-D ones), or
            ``None`` for random weights.
        strict_weights: Reject checkpoints with missing or unexpected keys.
        extractor: Extractor of every sequence not in ``sequence_extractors``:
            ``resnet18_3d`` (default), ``resnet18_2d`` or ``vgg19_2d``.
        sequence_extractors: ``{sequence: extractor}`` overrides, e.g.
            ``{"MG_CC": "resnet18_2d", "MG_MLO": "resnet18_2d"}``; stored as
            sorted pairs.
        extractor_weights: ``{extractor: path}`` weights of the other
            extractors in use (``weights`` is ``extractor``'s).
        grid_2d: Input grid ``(H, W)`` of the 2-D extractors (assumed 224×224).
        vgg_reduction: How ``vgg19_2d`` turns 512 channels into 128:
            ``channel_group_mean`` (default, assumed: the paper does not say;
            mean of 4 consecutive pooled channels, deterministic and
            training-free) or ``fc1_truncated`` (first 128 units of the first
            fully-connected layer, needs a checkpoint with ``classifier.0``).

    Example:
        >>> cfg = EmbedConfig(extractor="resnet18_2d", sequence_extractors={"US_LN": "vgg19_2d"})
        >>> cfg.extractor_for("MG_CC"), cfg.extractor_for("US_LN"), len(cfg.feature_columns)
        ('resnet18_2d', 'vgg19_2d', 512)
    """

    grid: tuple[int, int, int] = DEFAULT_GRID
    margin_mm: float = DEFAULT_MARGIN_MM
    lift_depth: int = DEFAULT_LIFT_DEPTH
    interpolation: str = "trilinear"
    anti_aliasing: bool = True
    batch_size: int = 4
    pool_min: int = 1
    pool_max: int | None = None
    num_cpus_per_actor: float = 1.0
    num_gpus_per_actor: float = 1.0
    torch_threads: int | None = None
    seed: int = DEFAULT_SEED
    weights: str | None = None
    strict_weights: bool = True
    extractor: str = DEFAULT_EXTRACTOR
    sequence_extractors: tuple[tuple[str, str], ...] = ()
    extractor_weights: tuple[tuple[str, str], ...] = ()
    grid_2d: tuple[int, int] = DEFAULT_GRID_2D
    vgg_reduction: str = DEFAULT_VGG_REDUCTION

    def __post_init__(self) -> None:
        raw: Any = self.grid
        if isinstance(raw, int):
            raw = (raw, raw, raw)
        try:
            grid = tuple(int(g) for g in raw)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"embed.grid: expected three integers (D, H, W); got {self.grid!r}.") from err
        if len(grid) != 3 or min(grid) < MIN_GRID_SIDE:
            raise ConfigError(
                f"embed.grid: expected three integers >= {MIN_GRID_SIDE} (D, H, W); got {self.grid!r}. "
                "Use e.g. grid=(64, 64, 64) or --grid 64."
            )
        object.__setattr__(self, "grid", grid)
        check_range("embed.margin_mm", float(self.margin_mm), 0.0)
        object.__setattr__(self, "margin_mm", float(self.margin_mm))
        check_range("embed.lift_depth", int(self.lift_depth), 1, grid[0])
        look_up_option("embed.interpolation", self.interpolation, INTERPOLATION_MODES)
        check_range("embed.batch_size", int(self.batch_size), 1)
        check_range("embed.pool_min", int(self.pool_min), 1)
        if self.pool_max is not None and int(self.pool_max) < int(self.pool_min):
            raise ConfigError(
                f"embed.pool_max: expected >= pool_min ({self.pool_min}); got {self.pool_max}. "
                "Raise --pool-max or lower --pool-min."
            )
        check_range("embed.num_cpus_per_actor", float(self.num_cpus_per_actor), 0.0)
        check_range("embed.num_gpus_per_actor", float(self.num_gpus_per_actor), 0.0, inclusive=False)
        if self.torch_threads is not None:
            check_range("embed.torch_threads", int(self.torch_threads), 1)
        if self.weights is not None:
            object.__setattr__(self, "weights", str(self.weights))
        self._check_extractors()

    def _check_extractors(self) -> None:
        get_extractor(self.extractor)
        pairs = _pairs("embed.sequence_extractors", self.sequence_extractors, "{MG_CC: resnet18_2d}")
        for seq, name in pairs:
            get_extractor(name, what=f"embed.sequence_extractors[{seq!r}]")
        object.__setattr__(self, "sequence_extractors", pairs)
        weights = _pairs("embed.extractor_weights", self.extractor_weights, "{vgg19_2d: vgg19.pth}")
        for name, _path in weights:
            get_extractor(name, what="embed.extractor_weights key")
            if name == self.extractor and self.weights is not None:
                raise ConfigError(
                    f"embed.extractor_weights[{name!r}]: expected weights of extractors other than "
                    f"embed.extractor ({self.extractor!r}), whose file is embed.weights; got both. "
                    "Keep one of the two."
                )
        object.__setattr__(self, "extractor_weights", weights)
        raw: Any = self.grid_2d
        if isinstance(raw, int):
            raw = (raw, raw)
        try:
            grid_2d = tuple(int(g) for g in raw)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"embed.grid_2d: expected two integers (H, W); got {self.grid_2d!r}. "
                              "Use e.g. grid_2d=(224, 224).") from err
        if len(grid_2d) != 2 or min(grid_2d) < MIN_GRID_2D_SIDE:
            raise ConfigError(
                f"embed.grid_2d: expected two integers >= {MIN_GRID_2D_SIDE} (H, W); got {self.grid_2d!r}. "
                "The 2-D networks downsample 32-fold; use e.g. grid_2d=(224, 224)."
            )
        object.__setattr__(self, "grid_2d", grid_2d)
        look_up_option("embed.vgg_reduction", self.vgg_reduction, VGG_REDUCTIONS)

    # --- extractors -----------------------------------------------------------
    def extractor_for(self, sequence: str | None) -> str:
        """The extractor of ``sequence`` (``extractor`` unless overridden)."""
        return dict(self.sequence_extractors).get(str(sequence), self.extractor)

    @property
    def extractors_used(self) -> tuple[str, ...]:
        """Every extractor this config can run, in registry order."""
        used = {self.extractor, *(name for _, name in self.sequence_extractors)}
        return tuple(n for n in EXTRACTOR_NAMES if n in used)

    def weights_for(self, extractor: str) -> str | None:
        """The weights file of ``extractor``, or ``None`` (random init from ``seed``)."""
        if extractor == self.extractor:
            return self.weights
        return dict(self.extractor_weights).get(extractor)

    @property
    def embedding_width(self) -> int:
        """Values per row of the table: the widest extractor in use."""
        return max(EXTRACTORS[n].width for n in self.extractors_used)

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """``deep_000`` … of the widest extractor in use (narrower rows are NaN beyond their width)."""
        return deep_columns(self.embedding_width)

    def model_options(self) -> dict[str, Any]:
        """Keyword options of :meth:`Extractor.build` / :meth:`Extractor.describe`."""
        return {"vgg_reduction": self.vgg_reduction}

    def build_model(self, extractor: str, seed: int | None = None) -> Any:
        """Build ``extractor``'s network (seed: ``self.seed`` unless given)."""
        return EXTRACTORS[extractor].build(self.seed if seed is None else seed, **self.model_options())

    def model_description(self) -> str:
        """Every network in use, as recorded with a store version."""
        used = self.extractors_used
        if used == (DEFAULT_EXTRACTOR,):
            return EXTRACTORS[DEFAULT_EXTRACTOR].describe()
        return "; ".join(f"{n}: {EXTRACTORS[n].describe(**self.model_options())}" for n in used)

    # --- derived values -------------------------------------------------------
    @property
    def threads(self) -> int:
        """Torch intra-op threads per actor."""
        if self.torch_threads is not None:
            return int(self.torch_threads)
        return max(1, int(self.num_cpus_per_actor))

    def content_dict(self, weights_sha256: str | None = None) -> dict[str, Any]:
        """The fields that change the embeddings, plus the weights' identity.

        The weights enter by checksum, never by path, so moving a file does not
        invalidate cached embeddings and replacing its content does.
        """
        used = self.extractors_used
        skip = set() if used != (DEFAULT_EXTRACTOR,) else set(EXTRACTOR_FIELDS)
        if not any(EXTRACTORS[n].spatial_dims == 2 for n in used):
            skip.add("grid_2d")
        if "vgg19_2d" not in used:
            skip.add("vgg_reduction")
        out = {name: _jsonable(getattr(self, name)) for name in CONTENT_FIELDS if name not in skip}
        out["weights_sha256"] = weights_sha256
        # one extractor: its file is the weights; several: a file per extractor, or some random
        all_loaded = len(used) == 1 or all(self.weights_for(n) is not None for n in used)
        if weights_sha256 is not None and (not self.strict_weights or not all_loaded):
            out["seed"] = self.seed  # fills missing tensors, or initialises an extractor without a file
        elif weights_sha256 is not None:
            out.pop("seed")
        return out

    def stable_hash(self, weights_sha256: str | None = None) -> str:
        """SHA-256 hex of :meth:`content_dict` as canonical JSON."""
        text = json.dumps(self.content_dict(weights_sha256), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    # --- serialisation --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """All fields as plain JSON/YAML types (the extractor mappings as dicts)."""
        out = {k: _jsonable(v) for k, v in asdict(self).items()}
        out["sequence_extractors"] = dict(self.sequence_extractors)
        out["extractor_weights"] = dict(self.extractor_weights)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EmbedConfig":
        """Build from :meth:`to_dict` output (unknown keys are an error)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            look_up_option("embed config key", unknown[0], known)
        return cls(**data)

    def to_yaml(self, path: PathLike | None = None) -> str:
        """YAML text of :meth:`to_dict`; also written to ``path`` when given."""
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_yaml(cls, path: PathLike) -> "EmbedConfig":
        """Read a config written by :meth:`to_yaml` (an ``embed:`` section is accepted)."""
        import yaml

        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a YAML mapping of embed settings; got {type(data).__name__}.")
        data = data.get("embed", data)
        return cls.from_dict(data)

    def with_(self, **changes: Any) -> "EmbedConfig":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _pairs(name: str, value: Any, example: str) -> tuple[tuple[str, str], ...]:
    """A ``{key: value}`` mapping (or pairs) as sorted ``(str, str)`` pairs."""
    try:
        items = value.items() if hasattr(value, "items") else value
        pairs = tuple(sorted((str(k), str(v)) for k, v in items))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{name}: expected a mapping of names to names (e.g. {example}); got {value!r}. "
                          "Write it as a YAML mapping.") from err
    return pairs

"""Configuration of the deep-embedding stage.

The defaults are the reference study's preset (Guo et al. 2024): one
MedicalNet ResNet-18 embedding (512 values) per sequence, from the lesion's
bounding box plus a margin, resized to 64³.  The study does not state its
input grid or margin; 64³ keeps a ResNet-18 forward pass under a second on
one CPU core and leaves a 2³ map after the network's 32-fold downsampling.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from alnm_ray._validation import check_range, look_up_option
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

#: Fields that change the numbers an embedding produces (they enter the hash);
#: the others only change how the work is scheduled.
CONTENT_FIELDS: tuple[str, ...] = (
    "grid", "margin_mm", "lift_depth", "interpolation", "anti_aliasing", "seed", "strict_weights",
)


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
        weights: Path of a MedicalNet-style checkpoint, or ``None`` for random weights.
        strict_weights: Reject checkpoints with missing or unexpected keys.
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
        out = {name: _jsonable(getattr(self, name)) for name in CONTENT_FIELDS}
        out["weights_sha256"] = weights_sha256
        if weights_sha256 is not None and not self.strict_weights:
            out["seed"] = self.seed  # fills missing tensors
        elif weights_sha256 is not None:
            out.pop("seed")
        return out

    def stable_hash(self, weights_sha256: str | None = None) -> str:
        """SHA-256 hex of :meth:`content_dict` as canonical JSON."""
        text = json.dumps(self.content_dict(weights_sha256), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    # --- serialisation --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """All fields as plain JSON/YAML types."""
        return {k: _jsonable(v) for k, v in asdict(self).items()}

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
    return list(value) if isinstance(value, tuple) else value

"""Loading MedicalNet-style checkpoints into MONAI's ResNet-18.

MedicalNet (Tencent, "Med3D") saves ``{"state_dict": {...}}`` from a model
wrapped in ``torch.nn.DataParallel``: every key carries a ``module.`` prefix
and the segmentation head ``conv_seg.*`` is present in fine-tuned files and
absent in the released backbones.  Its block and layer names otherwise match
MONAI's ResNet (``relu`` vs ``act`` carries no parameters), so the mapping
below is explicit but close to the identity:

==============================================  ================================
MedicalNet key (after stripping ``module.``)    MONAI ``ResNet`` key
==============================================  ================================
``conv1.weight``, ``bn1.*``                     same
``layer{L}.{B}.conv{1,2}.weight``               same
``layer{L}.{B}.bn{1,2}.*``                      same
``layer{L}.{B}.downsample.{0,1}.*``             same (type-"B" shortcuts only)
``conv_seg.*`` (segmentation head), ``fc.*``    dropped, reported as *ignored*
==============================================  ================================

Keys that match no rule, or map to a tensor the model lacks, are *unexpected*;
model tensors the file lacks are *missing*.  Both are errors unless
``strict=False`` (then a warning lists them).  A shape mismatch is always an
error.  BatchNorm ``num_batches_tracked`` counters, absent from checkpoints
written before PyTorch 0.4.1, are filled from the model and only logged.
Nothing is ever downloaded.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alnm_ray.exceptions import AlnmRayWarning, ConfigError
from alnm_ray.typing import PathLike

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

#: Keys of the file that belong to heads the embedding does not use.
_HEAD_KEY = re.compile(r"^(conv_seg|fc)\.")
#: MedicalNet name -> MONAI name (regex, replacement); see the module docstring.
KEY_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(conv1)\.(weight)$"), r"\1.\2"),
    (re.compile(r"^(bn1)\.(\w+)$"), r"\1.\2"),
    (re.compile(r"^layer([1-4])\.(\d+)\.(conv[12])\.(weight)$"), r"layer\1.\2.\3.\4"),
    (re.compile(r"^layer([1-4])\.(\d+)\.(bn[12])\.(\w+)$"), r"layer\1.\2.\3.\4"),
    (re.compile(r"^layer([1-4])\.(\d+)\.downsample\.([01])\.(\w+)$"), r"layer\1.\2.downsample.\3.\4"),
)
#: Buffers an old checkpoint may lack without changing inference.
_OPTIONAL_BUFFER = re.compile(r"\.num_batches_tracked$")
#: Container keys under which trainers nest the state dict.
_NESTED_KEYS = ("state_dict", "model_state_dict", "model")
_SHOW = 5


class WeightsError(ConfigError):
    """A weights file cannot be read or does not fit the embedding network."""


class WeightsMismatchWarning(AlnmRayWarning):
    """A weights file was loaded with missing or unexpected keys (``strict=False``)."""


@dataclass(frozen=True)
class WeightsReport:
    """What loading a weights file did.

    Attributes:
        path: The file.
        loaded: Number of tensors copied into the model.
        ignored: Head keys dropped on purpose (sorted).
        missing: Model tensors the file lacks (sorted; kept at their initial values).
        unexpected: File tensors with no place in the model (sorted).
        filled_buffers: ``num_batches_tracked`` counters the file lacks.
    """

    path: str
    loaded: int
    ignored: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    filled_buffers: tuple[str, ...] = field(default=(), repr=False)


def _show(keys: list[str] | tuple[str, ...]) -> str:
    keys = sorted(keys)
    more = f" … (+{len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
    return ", ".join(keys[:_SHOW]) + more


def strip_prefix(key: str) -> str:
    """Remove every leading ``module.`` (``DataParallel``, possibly nested)."""
    while key.startswith("module."):
        key = key[len("module."):]
    return key


def map_key(key: str) -> str | None:
    """Map one MedicalNet key to MONAI's name, or ``None`` when no rule matches.

    Example:
        >>> map_key("module.layer2.0.bn1.running_var")
        'layer2.0.bn1.running_var'
        >>> map_key("module.conv_seg.0.weight") is None
        True
    """
    bare = strip_prefix(key)
    for pattern, repl in KEY_RULES:
        if pattern.match(bare):
            return pattern.sub(repl, bare)
    return None


def read_checkpoint(path: PathLike) -> dict[str, "torch.Tensor"]:
    """Read a checkpoint's flat state dict with ``torch.load(weights_only=True)``.

    Args:
        path: A ``.pth``/``.pt`` file holding a state dict, or a dict nesting it
            under ``state_dict``, ``model_state_dict`` or ``model``.

    Returns:
        ``{key: tensor}`` on the CPU, keys as stored.

    Raises:
        FileNotFoundError: When the file does not exist.
        WeightsError: When the file is not a readable checkpoint or holds no
            tensors.
    """
    import torch

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(2, "No such file or directory (weights)", str(p))
    try:
        obj: Any = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch.load raises a wide, version-dependent set
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise WeightsError(
            f"weights {p}: expected a PyTorch checkpoint (a state dict saved with torch.save); "
            f"could not read it ({type(err).__name__}: {first}). The file may be truncated, "
            "corrupt or not a checkpoint; re-copy it or pass the right --weights file."
        ) from err
    for nest in _NESTED_KEYS:
        if isinstance(obj, Mapping) and isinstance(obj.get(nest), Mapping):
            obj = obj[nest]
            break
    if not isinstance(obj, Mapping):
        raise WeightsError(
            f"weights {p}: expected a state dict (a mapping of names to tensors); got a "
            f"{type(obj).__name__}. Save the model with torch.save(model.state_dict(), path)."
        )
    state = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise WeightsError(
            f"weights {p}: expected a state dict of tensors; found none among keys "
            f"{_show([str(k) for k in obj])}. Pass a MedicalNet-style ResNet-18 checkpoint."
        )
    return state


def map_state_dict(raw: Mapping[str, "torch.Tensor"], model: "torch.nn.Module", *,
                   path: str = "<state dict>", strict: bool = True
                   ) -> tuple[dict[str, "torch.Tensor"], WeightsReport]:
    """Translate a MedicalNet state dict to a complete MONAI state dict for ``model``.

    Args:
        raw: Tensors by MedicalNet (or MONAI) name.
        model: The network from :func:`~alnm_ray.embed.model.build_resnet18`;
            supplies the expected names and shapes and the values of missing
            entries.
        path: Shown in messages.
        strict: Raise on missing or unexpected keys (else warn).

    Returns:
        ``(state_dict, report)``; ``state_dict`` loads with
        ``model.load_state_dict(state_dict, strict=True)``.

    Raises:
        WeightsError: On a shape mismatch; on missing/unexpected keys when
            ``strict``.
    """
    expected = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    unexpected: list[str] = []
    for key, tensor in raw.items():
        if _HEAD_KEY.match(strip_prefix(key)):
            ignored.append(key)
            continue
        target = map_key(key)
        if target is None or target not in expected:
            unexpected.append(key)
            continue
        mapped[target] = tensor
    mismatched = [
        f"{k} (expected {tuple(expected[k].shape)}, found {tuple(t.shape)})"
        for k, t in sorted(mapped.items()) if tuple(t.shape) != tuple(expected[k].shape)
    ]
    if mismatched:
        raise WeightsError(
            f"weights {path}: {len(mismatched)} tensor(s) do not fit a 1-channel 3-D ResNet-18: "
            f"{'; '.join(mismatched[:_SHOW])}{' …' if len(mismatched) > _SHOW else ''}. "
            "Use a MedicalNet ResNet-18 checkpoint (resnet_18.pth / resnet_18_23dataset.pth)."
        )
    absent = [k for k in expected if k not in mapped]
    filled = sorted(k for k in absent if _OPTIONAL_BUFFER.search(k))
    missing = sorted(k for k in absent if not _OPTIONAL_BUFFER.search(k))
    report = WeightsReport(path=path, loaded=len(mapped), ignored=tuple(sorted(ignored)),
                           missing=tuple(missing), unexpected=tuple(sorted(unexpected)),
                           filled_buffers=tuple(filled))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing ({_show(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({_show(unexpected)})")
        what = (f"weights {path}: expected the keys of a MedicalNet ResNet-18 backbone; found "
                f"{' and '.join(parts)}")
        if strict:
            raise WeightsError(
                what + ". The file is probably another architecture or depth; pass a ResNet-18 "
                "checkpoint, or allow partial loading with strict_weights=False "
                "(--no-strict-weights)."
            )
        warnings.warn(what + "; missing tensors keep their initial values.",
                      WeightsMismatchWarning, stacklevel=2)
    if ignored:
        logger.info("weights %s: ignored %d head tensor(s) (%s)", path, len(ignored), _show(ignored))
    if filled:
        logger.debug("weights %s: %d num_batches_tracked buffer(s) filled from the model", path,
                     len(filled))
    state = {k: (mapped[k].to(expected[k].dtype) if k in mapped else expected[k]) for k in expected}
    return state, report


def prepare_weights(path: PathLike, *, strict: bool = True, seed: int | None = 0,
                    model: "torch.nn.Module | None" = None
                    ) -> tuple[dict[str, "torch.Tensor"], WeightsReport]:
    """Read and map a weights file without touching any model the caller holds.

    Done once on the driver so a bad file fails before any Ray work starts and
    actors receive a ready state dict (through the object store: workers on
    other nodes need not see the file).

    Args:
        path: The checkpoint file.
        strict: Raise on missing or unexpected keys.
        seed: Initialisation seed of the reference model whose values fill
            missing tensors (``strict=False`` only); ignored when ``model`` is given.
        model: Reference model to map onto (built from ``seed`` when ``None``).

    Returns:
        ``(state_dict, report)`` as :func:`map_state_dict`.
    """
    from alnm_ray.embed.model import build_resnet18

    raw = read_checkpoint(path)
    model = model if model is not None else build_resnet18(seed=seed)
    return map_state_dict(raw, model, path=str(path), strict=strict)


def load_weights(model: "torch.nn.Module", path: PathLike, *, strict: bool = True) -> WeightsReport:
    """Load a MedicalNet-style checkpoint into ``model`` in place.

    Args:
        model: The network from :func:`~alnm_ray.embed.model.build_resnet18`.
        path: The checkpoint file.
        strict: Raise on missing or unexpected keys (else warn and load the rest).

    Returns:
        A :class:`WeightsReport`.

    Raises:
        FileNotFoundError: When the file does not exist.
        WeightsError: When it is unreadable, has the wrong shapes, or (strict)
            the wrong keys.
    """
    state, report = prepare_weights(path, strict=strict, model=model)
    model.load_state_dict(state, strict=True)
    model.eval()
    return report

"""Loading local state-dict files into the embedding networks.

Each extractor (:mod:`alnm_ray.embed.extractors`) has its own key rules,
head keys and expected names; the 3-D default is described first.

**resnet18_3d** — MedicalNet-style checkpoints into MONAI's 3-D ResNet-18.

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

**resnet18_2d** — torchvision ``resnet18`` names, which the 2-D network
keeps (``conv1``, ``bn1``, ``layer{L}.{B}.*``, ``downsample.{0,1}``); ``fc.*``
is ignored.  **vgg19_2d** — torchvision ``vgg19`` names ``features.{i}.*``;
``classifier.*`` is ignored, except ``classifier.0`` with the
``fc1_truncated`` reduction, whose first 128 rows are loaded.  An RGB stem
(``conv1.weight`` / ``features.0.weight`` with 3 input channels) is summed
over its colour channels, exactly what feeding the grey image three times
computes; both conversions are listed in the report's ``converted``.

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

from alnm_ray.exceptions import WeightsError, WeightsMismatchWarning
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
        converted: Tensors adapted on load (RGB stem summed, rows truncated).
    """

    path: str
    loaded: int
    ignored: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    filled_buffers: tuple[str, ...] = field(default=(), repr=False)
    converted: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Arch:
    """How one extractor's files are read: key rules, head keys, wording of errors."""

    rules: tuple[tuple[re.Pattern[str], str], ...]
    head: re.Pattern[str]
    label: str
    hint: str
    stem: str | None = None
    truncatable: tuple[str, ...] = ()


_RESNET_2D_RULES = KEY_RULES
_VGG_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^features\.(\d+)\.(weight|bias)$"), r"features.\1.\2"),
    (re.compile(r"^classifier\.0\.(weight|bias)$"), r"classifier.0.\1"),
)
#: Per extractor: see the module docstring.
ARCHITECTURES: dict[str, _Arch] = {
    "resnet18_3d": _Arch(KEY_RULES, _HEAD_KEY, "a MedicalNet ResNet-18 backbone (1-channel 3-D ResNet-18)",
                         "Use a MedicalNet ResNet-18 checkpoint (resnet_18.pth / resnet_18_23dataset.pth)"),
    "resnet18_2d": _Arch(_RESNET_2D_RULES, re.compile(r"^fc\."),
                         "a 2-D ResNet-18 (torchvision resnet18 layout, 1 channel)",
                         "Use a torchvision-layout resnet18 state dict (conv1, bn1, layer1-4; fc is dropped)",
                         stem="conv1.weight"),
    "vgg19_2d": _Arch(_VGG_RULES, re.compile(r"^classifier\."),
                      "a VGG-19 (torchvision vgg19 layout, features.0-34, 1 channel)",
                      "Use a torchvision-layout vgg19 state dict (features.*; classifier.* is dropped)",
                      stem="features.0.weight", truncatable=("classifier.0.weight", "classifier.0.bias")),
}


def _show(keys: list[str] | tuple[str, ...]) -> str:
    keys = sorted(keys)
    more = f" … (+{len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
    return ", ".join(keys[:_SHOW]) + more


def strip_prefix(key: str) -> str:
    """Remove every leading ``module.`` (``DataParallel``, possibly nested)."""
    while key.startswith("module."):
        key = key[len("module."):]
    return key


def map_key(key: str, extractor: str = "resnet18_3d") -> str | None:
    """Map one file key to the network's name, or ``None`` when no rule matches.

    Example:
        >>> map_key("module.layer2.0.bn1.running_var")
        'layer2.0.bn1.running_var'
        >>> map_key("module.conv_seg.0.weight") is None
        True
    """
    bare = strip_prefix(key)
    for pattern, repl in ARCHITECTURES[extractor].rules:
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


def guess_extractor(raw: Mapping[str, "torch.Tensor"]) -> str | None:
    """The extractor a state dict looks saved from, or ``None`` (used in messages only)."""
    bare = {strip_prefix(k): v for k, v in raw.items()}
    if any(k.startswith("features.") for k in bare):
        return "vgg19_2d"
    stem = bare.get("conv1.weight")
    if stem is not None and getattr(stem, "ndim", 0) in (4, 5):
        return "resnet18_2d" if stem.ndim == 4 else "resnet18_3d"
    return None


def _adapt(target: str, tensor: "torch.Tensor", want: tuple[int, ...], arch: _Arch
           ) -> tuple["torch.Tensor", str | None]:
    """Sum an RGB stem to one channel, or keep the first rows of a truncated layer."""
    have = tuple(tensor.shape)
    if (target == arch.stem and len(have) == len(want) and have[1] == 3 and want[1] == 1
            and have[:1] + have[2:] == want[:1] + want[2:]):
        return tensor.sum(dim=1, keepdim=True), f"{target} (RGB stem summed over 3 channels)"
    if (target in arch.truncatable and len(have) == len(want) and have[0] > want[0]
            and have[1:] == want[1:]):
        return tensor[: want[0]].clone(), f"{target} (first {want[0]} of {have[0]} rows)"
    return tensor, None


def map_state_dict(raw: Mapping[str, "torch.Tensor"], model: "torch.nn.Module", *,
                   path: str = "<state dict>", strict: bool = True, extractor: str = "resnet18_3d"
                   ) -> tuple[dict[str, "torch.Tensor"], WeightsReport]:
    """Translate a file's state dict to a complete state dict for ``model``.

    Args:
        raw: Tensors by file name (MedicalNet, MONAI or torchvision layout).
        model: The extractor's network; supplies the expected names and
            shapes and the values of missing entries.
        path: Shown in messages.
        strict: Raise on missing or unexpected keys (else warn).
        extractor: Registry name of ``model`` (selects the key rules).

    Returns:
        ``(state_dict, report)``; ``state_dict`` loads with
        ``model.load_state_dict(state_dict, strict=True)``.

    Raises:
        WeightsError: On a shape mismatch; on missing/unexpected keys when
            ``strict``.
    """
    arch = ARCHITECTURES[extractor]
    expected = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    unexpected: list[str] = []
    converted: list[str] = []
    for key, tensor in raw.items():
        target = map_key(key, extractor)
        if target is not None and target in expected:
            tensor, note = _adapt(target, tensor, tuple(expected[target].shape), arch)
            converted += [note] if note else []
            mapped[target] = tensor
        elif arch.head.match(strip_prefix(key)):
            ignored.append(key)
        else:
            unexpected.append(key)
    mismatched = [
        f"{k} (expected {tuple(expected[k].shape)}, found {tuple(t.shape)})"
        for k, t in sorted(mapped.items()) if tuple(t.shape) != tuple(expected[k].shape)
    ]
    guess = guess_extractor(raw)
    other = (f" It looks saved from a {guess} network: choose that extractor (--extractor {guess}) or "
             "another file." if guess not in (None, extractor) else "")
    if mismatched:
        raise WeightsError(
            f"weights {path}: expected tensors of {arch.label} for extractor {extractor}; "
            f"{len(mismatched)} tensor(s) do not fit: "
            f"{'; '.join(mismatched[:_SHOW])}{' …' if len(mismatched) > _SHOW else ''}.{other} "
            f"{arch.hint}."
        )
    absent = [k for k in expected if k not in mapped]
    filled = sorted(k for k in absent if _OPTIONAL_BUFFER.search(k))
    missing = sorted(k for k in absent if not _OPTIONAL_BUFFER.search(k))
    report = WeightsReport(path=path, loaded=len(mapped), ignored=tuple(sorted(ignored)),
                           missing=tuple(missing), unexpected=tuple(sorted(unexpected)),
                           filled_buffers=tuple(filled), converted=tuple(sorted(converted)))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing ({_show(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({_show(unexpected)})")
        what = f"weights {path}: expected the keys of {arch.label}; found {' and '.join(parts)}"
        if strict:
            raise WeightsError(
                what + f".{other} The file is probably another architecture or depth; {arch.hint[0].lower()}"
                f"{arch.hint[1:]}, or allow partial loading with strict_weights=False (--no-strict-weights)."
            )
        warnings.warn(what + "; missing tensors keep their initial values.",
                      WeightsMismatchWarning, stacklevel=2)
    if ignored:
        logger.info("weights %s: ignored %d head tensor(s) (%s)", path, len(ignored), _show(ignored))
    if converted:
        logger.info("weights %s: adapted %s", path, "; ".join(sorted(converted)))
    if filled:
        logger.debug("weights %s: %d num_batches_tracked buffer(s) filled from the model", path,
                     len(filled))
    state = {k: (mapped[k].to(expected[k].dtype) if k in mapped else expected[k]) for k in expected}
    return state, report


def prepare_weights(path: PathLike, *, strict: bool = True, seed: int | None = 0,
                    model: "torch.nn.Module | None" = None, extractor: str = "resnet18_3d",
                    options: Mapping[str, Any] | None = None
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
        extractor: Registry name of the network the file is for.
        options: Build options of that network (``vgg_reduction``).

    Returns:
        ``(state_dict, report)`` as :func:`map_state_dict`.
    """
    from alnm_ray.embed.extractors import get_extractor

    raw = read_checkpoint(path)
    model = model if model is not None else get_extractor(extractor).build(seed, **dict(options or {}))
    return map_state_dict(raw, model, path=str(path), strict=strict, extractor=extractor)


def load_weights(model: "torch.nn.Module", path: PathLike, *, strict: bool = True,
                 extractor: str = "resnet18_3d") -> WeightsReport:
    """Load a state-dict file into ``model`` in place.

    Args:
        model: The extractor's network (default: the 3-D ResNet-18 of
            :func:`~alnm_ray.embed.model.build_resnet18`).
        path: The checkpoint file.
        strict: Raise on missing or unexpected keys (else warn and load the rest).
        extractor: Registry name of ``model``.

    Returns:
        A :class:`WeightsReport`.

    Raises:
        FileNotFoundError: When the file does not exist.
        WeightsError: When it is unreadable, has the wrong shapes, or (strict)
            the wrong keys.
    """
    state, report = prepare_weights(path, strict=strict, model=model, extractor=extractor)
    model.load_state_dict(state, strict=True)
    model.eval()
    return report


def weights_identity(config: Any) -> tuple[str | None, str]:
    """``(sha256 or None, provenance)`` of the weights of every extractor in use.

    One extractor: the file's SHA-256 and ``sha256:<hex>``, or ``None`` and
    ``random(seed=N)`` (as before the registry existed).  Several:
    ``name=sha256:<hex>; name=random(seed=N)`` and the SHA-256 of that text
    (``None`` when no extractor has a file).

    Args:
        config: An :class:`~alnm_ray.embed.config.EmbedConfig`.

    Raises:
        FileNotFoundError: When a weights file does not exist.
    """
    import hashlib

    from alnm_ray.extract.hashing import sha256_file

    parts: list[str] = []
    shas: list[str] = []
    for name in config.extractors_used:
        path = config.weights_for(name)
        if path is None:
            parts.append(f"random(seed={config.seed})")
        else:
            shas.append(sha256_file(path))
            parts.append(f"sha256:{shas[-1]}")
    if len(parts) == 1:
        return (shas[0] if shas else None), parts[0]
    text = "; ".join(f"{n}={p}" for n, p in zip(config.extractors_used, parts))
    return (hashlib.sha256(text.encode()).hexdigest() if shas else None), text


def prepare_all_weights(config: Any) -> tuple[dict[str, dict[str, "torch.Tensor"]], dict[str, WeightsReport]]:
    """Read and map the weights file of every extractor in use that has one.

    Args:
        config: An :class:`~alnm_ray.embed.config.EmbedConfig`.

    Returns:
        ``({extractor: state_dict}, {extractor: report})``; both empty when
        every extractor is randomly initialised.

    Raises:
        FileNotFoundError, WeightsError: As :func:`prepare_weights`, before any Ray work.
    """
    states: dict[str, dict[str, torch.Tensor]] = {}
    reports: dict[str, WeightsReport] = {}
    for name in config.extractors_used:
        path = config.weights_for(name)
        if path is not None:
            states[name], reports[name] = prepare_weights(path, strict=config.strict_weights, seed=config.seed,
                                                          extractor=name, options=config.model_options())
    return states, reports


def reports_to_json(config: Any, reports: Mapping[str, WeightsReport]) -> dict[str, Any] | None:
    """What loading did, for the store version's params.

    One extractor: ``{"loaded", "ignored", "missing", "unexpected"}`` (``None``
    for random weights), as before the registry existed.  Several:
    ``{extractor: that dict, plus "converted"}`` for every extractor with a file.
    """
    def one(r: WeightsReport) -> dict[str, Any]:
        return {"loaded": r.loaded, "ignored": list(r.ignored), "missing": list(r.missing),
                "unexpected": list(r.unexpected), **({"converted": list(r.converted)} if r.converted else {})}

    if len(config.extractors_used) == 1:
        return next((one(r) for r in reports.values()), None)
    return {name: one(r) for name, r in reports.items()}

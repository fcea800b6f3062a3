"""Per-case preparation: files -> preprocessed lesion crop -> network input row.

Runs in the first Ray Data stage (plain CPU tasks), so the actors that hold
the model only ever see ready volumes.  Every failure becomes an error row
(stage, type, message) instead of an exception, so one bad case never stops
or silently shrinks the batch.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import SimpleITK as sitk

from alnm_ray.constants import CASE_KEY, COL_IMAGE, COL_MASK, COL_MASK_LABEL, DEFAULT_MASK_LABEL
from alnm_ray.embed.actor import COL_ERROR_MESSAGE, COL_ERROR_TYPE, COL_SHAPE, COL_VOLUME
from alnm_ray.embed.config import EmbedConfig
from alnm_ray.embed.inputs import to_network_input
from alnm_ray.exceptions import AlnmRayError
from alnm_ray.preprocess.config import PreprocessConfig
from alnm_ray.preprocess.geometry import squeeze_2d
from alnm_ray.preprocess.pipeline import StageError, preprocess_case, stage

logger = logging.getLogger(__name__)

#: Stage name of failures after preprocessing (resize, normalise, forward pass).
STAGE_EMBED = "embed"
#: Column carrying the stage of a failure between the Ray stages.
COL_ERROR_STAGE = "_error_stage"


def case_label(row: dict[str, Any]) -> str:
    """``cohort/center/patient/sequence/reader`` for messages."""
    return "/".join(str(row.get(k, "?")) for k in CASE_KEY)


def embed_preprocess_config(config: PreprocessConfig) -> PreprocessConfig:
    """The sequence's preprocessing with the ROI crop switched on.

    The crop margin is the embedding's own (``EmbedConfig.margin_mm``), passed
    to :func:`~alnm_ray.preprocess.pipeline.preprocess_case` directly.
    """
    return config if config.crop else dataclasses.replace(config, crop=True)


def load_crop(row: dict[str, Any], preprocess: PreprocessConfig, margin_mm: float) -> np.ndarray:
    """Read, preprocess and crop one case.

    Args:
        row: Manifest row with ``image``, ``mask``, ``mask_label`` and the case key.
        preprocess: The sequence's preprocessing (crop forced on).
        margin_mm: Margin around the mask's bounding box, mm.

    Returns:
        The crop as a numpy array, ``(D, H, W)`` or ``(H, W)`` for 2-D images.

    Raises:
        StageError: Naming the failing stage (``read``, ``geometry``, ``n4``, …).
    """
    from alnm_ray.manifest.imageio import read_image, read_mask

    label = row.get(COL_MASK_LABEL)  # an integer label or a decoding token (alnm_ray.manifest.masks)
    label = DEFAULT_MASK_LABEL if label is None or label != label else label
    with stage("read"):
        image = squeeze_2d(read_image(row[COL_IMAGE]))
        mask = squeeze_2d(read_mask(row[COL_MASK], label=label, image=row[COL_IMAGE]))
    result = preprocess_case(image, mask, embed_preprocess_config(preprocess), margin_mm=margin_mm,
                             case=case_label(row))
    return sitk.GetArrayFromImage(result.image)


def prepare_row(row: dict[str, Any], *, config: dict[str, Any], preprocess: dict[str, dict[str, Any]],
                default_preprocess: dict[str, Any], debug: bool = False) -> dict[str, Any]:
    """Ray Data ``map`` function: one manifest row -> one input row for the actor.

    Args:
        row: Manifest row (plus ``case_hash`` and any passthrough columns).
        config: :meth:`EmbedConfig.to_dict`.
        preprocess: ``{sequence: PreprocessConfig.to_dict()}`` for listed sequences.
        default_preprocess: Config of every other sequence.
        debug: Re-raise failures instead of recording them.

    Returns:
        ``row`` without image/mask paths, plus the volume (float32 bytes),
        its shape and the error columns (empty on success).
    """
    cfg = EmbedConfig.from_dict(config)
    out = {k: v for k, v in row.items() if k not in (COL_IMAGE, COL_MASK)}
    out.update({COL_VOLUME: b"", COL_SHAPE: [0, 0, 0], COL_ERROR_STAGE: "", COL_ERROR_TYPE: "",
                COL_ERROR_MESSAGE: ""})
    pp = PreprocessConfig.from_dict(preprocess.get(str(row.get("sequence")), default_preprocess))
    try:
        crop = load_crop(row, pp, cfg.margin_mm)
        with stage(STAGE_EMBED):
            volume = to_network_input(crop, cfg, case=case_label(row), sequence=str(row.get("sequence")))
    except (StageError, AlnmRayError, OSError) as err:
        if debug:
            raise
        cause = err.cause if isinstance(err, StageError) else err
        out[COL_ERROR_STAGE] = err.stage if isinstance(err, StageError) else STAGE_EMBED
        out[COL_ERROR_TYPE] = type(cause).__name__
        label = case_label(row)
        text = str(cause)
        out[COL_ERROR_MESSAGE] = text if text.startswith(label) else f"{label}: {text}"
        logger.debug("case %s failed in %s: %s", case_label(row), out[COL_ERROR_STAGE], cause)
        return out
    out[COL_VOLUME] = np.ascontiguousarray(volume, dtype=np.float32).tobytes()
    out[COL_SHAPE] = [0] * (3 - volume.ndim) + [int(s) for s in volume.shape]  # 2-D inputs: [0, H, W]
    return out

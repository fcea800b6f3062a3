"""Fit a plan's histogram landmarks on training images (``normalize: histogram``).

A plan that says ``normalize: histogram`` for a sequence cannot run until
that sequence's config holds landmarks learned from training images
(:class:`~alnm_ray.preprocess.histogram.HistogramLandmarks`).
:func:`fit_plan_histograms` learns them, per sequence, from the images it is
given -- the caller passes the training split's rows only, so validation and
external images are later mapped with the training landmarks and never
shape them:

1. each distinct training image is read and put through the steps before the
   histogram map (N4, resampling: :func:`~alnm_ray.preprocess.pipeline.histogram_input`);
2. its landmark intensities are measured in its foreground -- the whole image's
   voxels above its mean (the estimator's default, TorchIO's), never the ROI
   mask: landmarks taken in the tumour would map every tumour onto the same
   deciles and erase the first-order differences the models look for;
3. :meth:`~alnm_ray.preprocess.histogram.HistogramStandardizer.fit_landmarks`
   averages them into the standard scale.

With ``out_dir`` each sequence's state is saved as ``<sequence>.json`` (the
estimator's JSON plus what it was fitted on); a later call with the same
images and config reuses it instead of refitting.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from alnm_ray.exceptions import SchemaMismatchError, StageError
from alnm_ray.preprocess.config import PreprocessConfig, PreprocessPlan
from alnm_ray.preprocess.histogram import HistogramLandmarks, HistogramStandardizer
from alnm_ray.preprocess.pipeline import histogram_input, stage

logger = logging.getLogger(__name__)

#: Version of the saved ``<sequence>.json`` layout.
SAVED_VERSION = 1


def image_landmarks(path: str, config: PreprocessConfig, est: HistogramStandardizer) -> np.ndarray:
    """One image's landmark intensities after the steps before the map (N4, resampling).

    Raises:
        StageError: Naming the stage (``read``, ``n4``, ``resample``, ``normalize``).
    """
    from alnm_ray.manifest.imageio import read_image

    with stage("read"):
        image = read_image(path)
    image = histogram_input(image, config)
    with stage("normalize"):
        return est.image_landmarks(image, what=str(path))


def _fingerprint(config: PreprocessConfig, paths: Sequence[str]) -> dict[str, Any]:
    fitting = PreprocessConfig.from_dict({**config.to_dict(), "histogram": None})
    return {"config_sha256": fitting.hash(), "n_images": len(paths),
            "images_sha256": hashlib.sha256("\n".join(paths).encode()).hexdigest()}


def _load_saved(path: Path, fingerprint: dict[str, Any]) -> HistogramLandmarks | None:
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("histogram state %s is unreadable; refitting", path)
        return None
    if doc.get("saved_version") != SAVED_VERSION or doc.get("fitted_on") != fingerprint:
        logger.info("histogram state %s was fitted on other images or settings; refitting", path)
        return None
    return HistogramLandmarks.from_dict(doc["state"])


def fit_sequence(paths: Sequence[str], config: PreprocessConfig, *, workers: int | None = None,
                 sequence: str = "sequence") -> HistogramLandmarks:
    """Landmarks of one sequence learned from these (training) images.

    Args:
        paths: Image files or DICOM folders (duplicates are measured once).
        config: The sequence's config (``normalize: histogram``; N4 and spacing used).
        workers: Images measured at once (threads; default: up to 4 CPUs).
        sequence: Name for messages.

    Returns:
        The fitted state.

    Raises:
        SchemaMismatchError: On no image, or an image that cannot be measured
            (the message names it, its stage and cause; the cause is chained).
    """
    files = sorted({str(p) for p in paths})
    if not files:
        raise SchemaMismatchError(
            f"histogram: sequence {sequence}: expected training images to fit the landmarks on; found none. "
            "Check the manifest's split column and sequence names.")
    est = HistogramStandardizer()
    n = workers or min(4, os.cpu_count() or 1)

    def one(path: str) -> np.ndarray:
        try:
            return image_landmarks(path, config, est)
        except StageError as err:
            raise SchemaMismatchError(
                f"histogram: sequence {sequence}: training image {path}: expected to measure its landmark "
                f"intensities; failed in stage {err.stage} ({type(err.cause).__name__}: {err.cause}). Fix "
                "or remove the image, then re-run.") from err.cause

    with ThreadPoolExecutor(max_workers=max(1, n)) as pool:
        marks = list(pool.map(one, files))
    return HistogramLandmarks.from_estimator(est.fit_landmarks(marks))


def fit_plan_histograms(plan: PreprocessPlan, images: dict[str, Sequence[str]], *,
                        out_dir: str | Path | None = None, workers: int | None = None,
                        progress: Callable[[str], None] | None = None
                        ) -> tuple[PreprocessPlan, dict[str, dict[str, Any]]]:
    """The plan with landmarks for every listed sequence that needs them.

    Args:
        plan: The plan (sequences with ``normalize: histogram`` and no landmarks are fitted;
            sequences already holding landmarks keep them).
        images: ``{sequence: training image paths}`` -- the training split only.
        out_dir: Where ``<sequence>.json`` is saved and reused from (``None``: not saved).
        workers: Images measured at once.
        progress: Called with one line per sequence.

    Returns:
        ``(fitted plan, {sequence: record})``; a record holds the state file,
        the number of images and whether it was reused.

    Raises:
        SchemaMismatchError: A sequence with no training image, or an image that fails.
    """
    say = progress or (lambda text: None)
    records: dict[str, dict[str, Any]] = {}
    for seq in plan.unfitted(images):
        config = plan.for_sequence(seq)
        files = sorted({str(p) for p in images[seq]})
        fingerprint = _fingerprint(config, files)
        path = Path(out_dir) / f"{seq}.json" if out_dir is not None else None
        state = _load_saved(path, fingerprint) if path is not None else None
        reused = state is not None
        if state is None:
            state = fit_sequence(files, config, workers=workers, sequence=seq)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                doc = {"saved_version": SAVED_VERSION, "sequence": seq, "fitted_on": fingerprint,
                       "voxels": "whole image after N4 and resampling, voxels above the image mean",
                       "state": state.to_dict()}
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
                tmp.replace(path)
        plan = plan.with_histogram(seq, state)
        records[seq] = {"state": str(path) if path is not None else None, "n_images": len(files),
                        "reused": reused, "landmarks": [round(v, 4) for v in state.landmarks]}
        say(f"histogram {seq}: landmarks {'reused' if reused else 'fitted'} on {len(files)} training image(s)")
    return plan, records

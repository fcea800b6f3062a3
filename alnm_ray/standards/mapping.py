"""PyRadiomics feature names -> IBSI identity and conformance, from the package's data files.

The mapping is data, not code: ``data/pyradiomics_ibsi.csv`` (feature -> IBSI code,
name, family, conformance), ``data/filters_ibsi2.csv`` (image type -> IBSI-2 status)
and ``data/ibsi1_reference.csv`` (the IBSI-1 phantom's reference values).  This module
reads them, splits store column names into their parts and states each feature's
conformance in one of three forms:

* ``IBSI-conformant`` -- same definition; the phantom value matches IBSI-1's;
* ``differs by convention (…)`` -- a documented convention differs (the text says which);
* ``not in IBSI`` -- IBSI-1 defines no such feature.

Example:
    >>> conformance_for_columns(["T2WI__original_firstorder_Kurtosis", "original_glcm_Idm", "deep_001"])
    ['differs by convention (PyRadiomics reports kurtosis; IBSI excess kurtosis (kurtosis - 3))', \
'IBSI-conformant', 'not in IBSI']
"""

from __future__ import annotations

import csv
import functools
import io
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from alnm_ray.constants import WIDE_SEP

CONFORMANT = "IBSI-conformant"
NOT_IN_IBSI = "not in IBSI"
CONVENTION = "differs by convention"
#: PyRadiomics classes computed on the discretised image (plus first-order Entropy and Uniformity).
DISCRETISED_CLASSES: frozenset[str] = frozenset({"glcm", "glrlm", "glszm", "gldm", "ngtdm"})
DISCRETISED_FIRSTORDER: frozenset[str] = frozenset({"Entropy", "Uniformity"})
#: First-order features PyRadiomics shifts by ``voxelArrayShift`` before squaring.
SHIFTED_FIRSTORDER: frozenset[str] = frozenset({"Energy", "RootMeanSquared", "TotalEnergy"})
#: Column-name prefix of PyRadiomics image types -> image type name, longest first.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("squareroot", "SquareRoot"), ("logarithm", "Logarithm"), ("exponential", "Exponential"),
    ("gradient", "Gradient"), ("original", "Original"), ("wavelet", "Wavelet"), ("square", "Square"),
    ("log-sigma", "LoG"), ("lbp-2D", "LBP2D"), ("lbp-3D", "LBP3D"))
_DEEP = re.compile(r"^deep_\d+$")


@dataclass(frozen=True)
class IbsiFeature:
    """One PyRadiomics feature's IBSI identity (a row of ``pyradiomics_ibsi.csv``)."""

    pyradiomics_class: str
    pyradiomics_feature: str
    ibsi_code: str
    ibsi_name: str
    ibsi_family: str
    conformance: str
    convention: str
    deprecated: bool
    note: str


@dataclass(frozen=True)
class ParsedColumn:
    """A store column name split into its parts.

    Attributes:
        sequence: The wide name's sequence (``T2WI__…``), else ``""``.
        name: The column without the sequence.
        source: ``pyradiomics``, ``deep`` or ``other``.
        image_type: PyRadiomics image type (``Original``, ``LoG``, ``Wavelet``…), else ``""``.
        image_token: The name's image part as written (``log-sigma-1-0-mm-3D``).
        feature_class: PyRadiomics class (``glcm``…), else ``""``.
        feature: PyRadiomics feature name, else ``""``.
    """

    sequence: str
    name: str
    source: str
    image_type: str = ""
    image_token: str = ""
    feature_class: str = ""
    feature: str = ""


def _data_text(name: str) -> str:
    return resources.files("alnm_ray.standards").joinpath("data", name).read_text(encoding="utf-8")


def read_data_csv(name: str) -> list[dict[str, str]]:
    """Rows of a package data CSV (``#`` comment lines skipped)."""
    lines = [line for line in io.StringIO(_data_text(name)) if not line.startswith("#")]
    return list(csv.DictReader(lines))


@functools.lru_cache(maxsize=1)
def ibsi_features() -> dict[tuple[str, str], IbsiFeature]:
    """``(pyradiomics class, feature) -> IbsiFeature`` for every PyRadiomics 3.0.1 feature."""
    out = {}
    for row in read_data_csv("pyradiomics_ibsi.csv"):
        feat = IbsiFeature(row["pyradiomics_class"], row["pyradiomics_feature"], row["ibsi_code"],
                           row["ibsi_name"], row["ibsi_family"], row["conformance"], row["convention"],
                           row["deprecated"] == "yes", row["note"])
        out[(feat.pyradiomics_class, feat.pyradiomics_feature)] = feat
    return out


@functools.lru_cache(maxsize=1)
def filters_ibsi2() -> dict[str, dict[str, str]]:
    """Image type -> its IBSI-2 row (``ibsi2``, ``ibsi2_code``, ``note``)."""
    return {row["image_type"]: row for row in read_data_csv("filters_ibsi2.csv")}


def parse_column(column: str) -> ParsedColumn:
    """Split a feature column name (long or wide) into sequence, image type, class and feature.

    Example:
        >>> parse_column("DCE_P2__log-sigma-2-0-mm-3D_glszm_ZoneEntropy").image_type
        'LoG'
    """
    sequence, name = column.split(WIDE_SEP, 1) if WIDE_SEP in column else ("", column)
    if _DEEP.match(name):
        return ParsedColumn(sequence, name, "deep")
    parts = name.split("_")
    if len(parts) == 3:
        token, cls, feat = parts
        image_type = next((t for p, t in _PREFIXES if token == p or token.startswith(p + "-")
                           or (p == "wavelet" and re.match(r"^wavelet\d*-", token))), "")
        if image_type and (cls, feat) in ibsi_features():
            return ParsedColumn(sequence, name, "pyradiomics", image_type, token, cls, feat)
    return ParsedColumn(sequence, name, "other")


def filter_parameters(parsed: ParsedColumn, settings: dict[str, Any] | None = None) -> str:
    """The filter's parameters as a short text (``sigma 1.0 mm``, ``coif1 level 1 sub-band LLH``)."""
    token, s = parsed.image_token, dict(settings or {})
    if parsed.image_type == "LoG":
        m = re.match(r"log-sigma-(\d+)-(\d+)-mm", token)
        return f"sigma {m.group(1)}.{m.group(2)} mm" if m else token
    if parsed.image_type == "Wavelet":
        m = re.match(r"wavelet(\d*)-(\w+)", token)
        level = (m.group(1) or "1") if m else "1"
        return f"{s.get('wavelet', 'coif1')} level {level} sub-band {m.group(2) if m else token}"
    if parsed.image_type in ("LBP2D", "LBP3D"):
        return token
    return ""


def _binning(settings: dict[str, Any]) -> str | None:
    """The discretisation convention note, or None when it matches IBSI (fixed bin number)."""
    if settings.get("binCount"):
        return None
    width = settings.get("binWidth", 25)
    return (f"fixed bin size {width:g}: PyRadiomics puts bin edges at multiples of the width from 0, "
            "IBSI's fixed bin size starts at the ROI minimum")


def conformance(feature_class: str, feature: str, *, image_type: str = "Original",
                settings: dict[str, Any] | None = None) -> str:
    """The IBSI conformance statement of one PyRadiomics feature.

    Args:
        feature_class: PyRadiomics class (``firstorder``, ``glcm``…).
        feature: PyRadiomics feature name.
        image_type: The image it was computed on (``Original``, ``LoG``…).
        settings: The extraction's PyRadiomics ``setting`` section, when known; then
            settings that break equality with IBSI (``voxelArrayShift``, fixed bin
            size) are stated too.

    Returns:
        ``IBSI-conformant``, ``differs by convention (…)`` or ``not in IBSI``, followed by
        ``; on a … image: …`` for filtered images.
    """
    row = ibsi_features().get((feature_class, feature))
    if row is None or row.conformance == "none":
        return NOT_IN_IBSI
    reasons = [row.note] if row.conformance == "convention" else []
    if settings is not None:
        shift = settings.get("voxelArrayShift", 0)
        if feature_class == "firstorder" and feature in SHIFTED_FIRSTORDER and shift:
            reasons.append(f"voxelArrayShift {shift} is added before squaring")
        discretised = feature_class in DISCRETISED_CLASSES or (
            feature_class == "firstorder" and feature in DISCRETISED_FIRSTORDER)
        binning = _binning(settings) if discretised else None
        if binning:
            reasons.append(binning)
    text = f"{CONVENTION} ({'; '.join(reasons)})" if reasons else CONFORMANT
    if image_type and image_type != "Original":
        status = filters_ibsi2().get(image_type, {}).get("ibsi2", "none")
        text += f"; on a {image_type}-filtered image (IBSI-2: {status})"
    return text


def conformance_for_columns(columns: list[str]) -> list[str]:
    """Conformance statement of each column (feature definition only; settings unknown).

    Args:
        columns: Long (``original_glcm_Idm``) or wide (``T2WI__original_glcm_Idm``)
            feature column names, deep columns or anything else.

    Returns:
        One statement per column, in order (``not in IBSI`` for deep, clinical and
        unknown columns).  The store's ``feature_dictionary`` also weighs the
        extraction's settings.
    """
    out = []
    for column in columns:
        parsed = parse_column(str(column))
        if parsed.source != "pyradiomics":
            out.append(NOT_IN_IBSI)
        else:
            out.append(conformance(parsed.feature_class, parsed.feature, image_type=parsed.image_type))
    return out

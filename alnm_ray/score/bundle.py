"""Frozen model bundles: a signed folder with everything needed to score new patients.

Layout of a bundle folder::

    metadata.json            what the model is (validated by schemas/bundle.schema.json)
    model.skops              the fitted selection pipeline + classifier (skops only; see serialize.py)
    training_summary.json    per selected feature training distribution (drift checks)
    config/<name>.yaml       preprocessing plan, PyRadiomics params, embedding config …
                             exactly as the training feature tables recorded them
    CHECKSUMS.sha256         SHA-256 of every file above (``sha256sum -c`` format)
    SIGNATURE.json           Ed25519 signature of CHECKSUMS.sha256's bytes (see signing.py)

:func:`load_bundle` first reads only ``CHECKSUMS.sha256`` and ``SIGNATURE.json``
and checks the signature against the trusted keys; then it reads every other
file into memory, verifies all checksums, and only then parses anything (JSON,
YAML, skops), so an altered, removed or added file, or a bundle signed by no
trusted key, is refused before a single byte of it is interpreted.  A
``metadata.json`` naming a pickle format (``joblib``) is refused before the
model file is touched.

The bundle id is an unkeyed content hash of the metadata and the other files:
it identifies a bundle (predictions record it), it does not authenticate it,
since whoever rewrites the files can recompute it.  Authenticity comes from
the signature.  (skops archives name their entries by object id and
timestamp, so two writes of the same model get different ids.)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from alnm_ray.exceptions import BundleIntegrityError, ConfigError, LibraryVersionWarning
from alnm_ray.score.checksums import (CHECKSUM_FILE, SIGNATURE_FILE, parse_checksums, read_head, read_payload,
                                      sha256_bytes, verify_blobs, write_checksums)
from alnm_ray.score.drift import TrainingDistribution
from alnm_ray.score.serialize import EXTENSIONS, check_format, dump_model, load_model
from alnm_ray.score.signing import (SignatureCheck, TrustPolicy, key_fingerprint, resolve_signing_key,
                                    sign_checksums, verify_bundle_signature)
from alnm_ray.typing import PathLike

logger = logging.getLogger(__name__)

METADATA_FILE = "metadata.json"
SUMMARY_FILE = "training_summary.json"
#: The feature dictionary rows (IBSI identity, filter, discretisation) of the model's input columns.
DICTIONARY_FILE = "feature_dictionary.csv"
#: Sampled training rows, as the classifier sees them, that SHAP explanations are relative to.
BACKGROUND_FILE = "explain_background.parquet"
#: The model card (Markdown, skops' card format).
CARD_FILE = "MODEL_CARD.md"
CONFIG_DIR = "config"
MODEL_STEM = "model"
#: Bump when the layout or metadata fields change incompatibly.
FORMAT_VERSION = 1
#: Hex digits of the content hash used as the bundle id.
BUNDLE_ID_LENGTH = 16
#: Distributions whose versions are recorded (and compared on load: the first group).
MODEL_LIBRARIES: tuple[str, ...] = ("scikit-learn", "imbalanced-learn", "xgboost", "lightgbm", "numpy", "scipy")
OTHER_LIBRARIES: tuple[str, ...] = ("alnm-ray", "skops", "pandas", "pyarrow", "pyradiomics", "SimpleITK",
                                    "antspyx", "torch", "monai", "ray", "shap")


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries that shape a bundle's numbers (None when absent)."""
    import platform

    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in MODEL_LIBRARIES + OTHER_LIBRARIES:
        try:
            out[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _schema() -> dict[str, Any]:
    text = resources.files("alnm_ray").joinpath("schemas", "bundle.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def validate_metadata(meta: dict[str, Any], *, source: str) -> None:
    """Validate bundle metadata against ``schemas/bundle.schema.json``.

    Raises:
        BundleIntegrityError: Listing every schema violation with its JSON path.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema())
    problems = sorted(validator.iter_errors(meta), key=lambda e: list(map(str, e.absolute_path)))
    if problems:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in problems[:8]]
        raise BundleIntegrityError(
            f"{source}: expected metadata matching schemas/bundle.schema.json; found {len(problems)} "
            "problem(s):\n" + "\n".join(f"  - {line}" for line in lines)
            + "\nRe-create the bundle with `alnm-ray train` (this version of alnm-ray).")


def _content_id(meta: dict[str, Any], payload: dict[str, str]) -> str:
    core = {k: v for k, v in meta.items() if k not in ("bundle_id", "created")}
    text = json.dumps({"metadata": core, "files": payload}, sort_keys=True, separators=(",", ":"), default=str)
    return sha256_bytes(text.encode())[:BUNDLE_ID_LENGTH]


@dataclass(frozen=True)
class Bundle:
    """A loaded, verified bundle.

    Attributes:
        path: The bundle folder.
        metadata: Parsed ``metadata.json``.
        model: The fitted pipeline (``predict_proba`` on a DataFrame of :attr:`features`).
        summary: Training distribution of the selected features.
        configs: ``{name: dict}`` from ``config/<name>.yaml``.
        signature: How its signature was checked (signer, or unsigned and accepted by flag).
        extras: Verified bytes of the optional files named in ``metadata.json`` ``files``
            (``explain_background``, ``model_card``), by that name.
    """

    path: str
    metadata: dict[str, Any]
    model: Any
    summary: TrainingDistribution
    configs: dict[str, Any] = field(default_factory=dict)
    signature: SignatureCheck | None = None
    extras: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def bundle_id(self) -> str:
        """Content hash identifying the bundle (an identity, not proof of origin: see the signature)."""
        return str(self.metadata["bundle_id"])

    @property
    def threshold(self) -> float:
        """Decision threshold: probability >= threshold is predicted ALNM positive."""
        return float(self.metadata["threshold"])

    @property
    def features(self) -> list[str]:
        """Input feature columns, in training order."""
        return list(self.metadata["features"])

    @property
    def selected_features(self) -> list[str]:
        """Input features the fitted pipeline actually uses."""
        return list(self.metadata["selected_features"])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of ALNM (class 1) per row of ``X`` (shape ``(n,)``).

        A bundle that harmonises centres (``metadata["harmonization"]``) also
        reads ``X``'s centre column (``batch_column``).
        """
        batch = (self.metadata.get("harmonization") or {}).get("batch_column")
        proba = np.asarray(self.model.predict_proba(X.loc[:, self.features + ([batch] if batch else [])]))
        return proba[:, 1].astype(float)


def write_bundle(out: PathLike, *, model: Any, metadata: dict[str, Any], summary: TrainingDistribution,
                 configs: dict[str, Any] | None = None, probe: pd.DataFrame | None = None,
                 overwrite: bool = False, signing_key: Any = None, unsigned: bool = False,
                 feature_dictionary: pd.DataFrame | None = None, background: pd.DataFrame | None = None,
                 model_card: str | None = None) -> str:
    """Write a signed bundle folder atomically and return its id.

    Args:
        out: Folder to create. It must not exist, unless ``overwrite`` and it is a bundle.
        model: The fitted pipeline.
        metadata: Every metadata field except ``bundle_id``, ``created``, ``model``,
            ``files``, ``library_versions`` and ``format_version`` (filled in here).
        summary: The fitted training distribution.
        configs: ``{name: JSON-able dict}`` written to ``config/<name>.yaml``.
        probe: A few training rows; the reloaded model must predict them identically.
        overwrite: Replace an existing bundle at ``out``.
        signing_key: Ed25519 private key (or its PEM file) that signs the bundle;
            default ``$ALNM_RAY_SIGNING_KEY``.
        unsigned: Write no signature (``score`` then refuses the bundle unless
            told ``--trust-unsigned``); exclusive with ``signing_key``.
        feature_dictionary: The feature dictionary rows of the model's input
            columns, written as ``feature_dictionary.csv`` (checksummed and signed
            like every other file).
        background: Sampled training rows in the classifier's input space (the
            selection output), written as ``explain_background.parquet``: SHAP
            explanations are relative to them.  Training patients' data: pass
            None to store none.
        model_card: The model card's Markdown, written as ``MODEL_CARD.md``.

    Returns:
        The bundle id.

    Raises:
        ConfigError: When ``out`` exists and is not a bundle, or exists and
            ``overwrite`` is False, the model cannot be serialised, or there is
            no signing key and ``unsigned`` is False.
        BundleIntegrityError: When the metadata does not satisfy the schema.
    """
    from alnm_ray.store.versions import utc_now

    key = resolve_signing_key(signing_key, unsigned=unsigned)
    target = Path(out)
    if target.exists():
        if not (target / CHECKSUM_FILE).is_file():
            raise ConfigError(f"--out {target}: expected a new folder or an existing bundle; found a folder "
                              "that is not a bundle. Choose another --out path.")
        if not overwrite:
            raise ConfigError(f"--out {target}: expected a new folder; a bundle is already there. "
                              "Pass --overwrite to replace it or choose another path.")
    data, model_info = dump_model(model, probe=probe)
    model_file = MODEL_STEM + EXTENSIONS[model_info["format"]]
    files: dict[str, bytes] = {
        model_file: data,
        SUMMARY_FILE: json.dumps(summary.to_dict(), indent=1, sort_keys=True).encode(),
    }
    config_files = {}
    for name, value in sorted((configs or {}).items()):
        rel = f"{CONFIG_DIR}/{name}.yaml"
        files[rel] = yaml.safe_dump(json.loads(json.dumps(value, default=str)), sort_keys=True).encode()
        config_files[name] = rel
    listed: dict[str, Any] = {"summary": SUMMARY_FILE, "configs": config_files}
    if feature_dictionary is not None:
        from alnm_ray.csvsafe import neutralize_frame

        files[DICTIONARY_FILE] = neutralize_frame(feature_dictionary).to_csv(index=False).encode()
        listed["feature_dictionary"] = DICTIONARY_FILE
    if background is not None:
        files[BACKGROUND_FILE] = _parquet_bytes(background)
        listed["explain_background"] = BACKGROUND_FILE
    if model_card is not None:
        files[CARD_FILE] = model_card.encode("utf-8")
        listed["model_card"] = CARD_FILE
    meta = dict(metadata)
    meta.update(
        format_version=FORMAT_VERSION,
        model={"file": model_file, **model_info},
        files=listed,
        library_versions=library_versions(),
    )
    meta["bundle_id"] = _content_id(meta, {k: sha256_bytes(v) for k, v in files.items()})
    meta["created"] = utc_now()
    validate_metadata(meta, source="bundle metadata")
    files[METADATA_FILE] = json.dumps(meta, indent=1, sort_keys=True, default=str).encode()

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        for rel, blob in files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(blob)
        write_checksums(tmp)
        if key is not None:
            (tmp / SIGNATURE_FILE).write_bytes(sign_checksums((tmp / CHECKSUM_FILE).read_bytes(), key))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if key is None:
        logger.warning("wrote an UNSIGNED bundle %s to %s (--unsigned): `alnm-ray score` refuses it unless "
                       "--trust-unsigned is passed", meta["bundle_id"], target)
    else:
        logger.info("wrote bundle %s to %s (%s), signed by %s", meta["bundle_id"], target, model_file,
                    key_fingerprint(key)[:16])
    return str(meta["bundle_id"])


@dataclass(frozen=True)
class BundleFiles:
    """A bundle's raw bytes, read but not parsed, with the keys to check them (cheap to ship to Ray actors).

    Attributes:
        source: Where the bundle was read from (for messages).
        checksums: Bytes of its ``CHECKSUMS.sha256``.
        blobs: ``{relative path: bytes}`` of every other file but the signature.
        signature: Bytes of its ``SIGNATURE.json`` (None when unsigned).
        trust: The trusted keys every loader (each Ray actor too) checks the signature against.
    """

    source: str
    checksums: bytes
    blobs: dict[str, bytes]
    signature: bytes | None = None
    trust: TrustPolicy = field(default_factory=TrustPolicy)


def check_signature(path: PathLike, *, trust: TrustPolicy | None = None, quiet: bool = True) -> SignatureCheck:
    """Check a bundle folder's signature, reading nothing but its checksum and signature files.

    Cheap: the CLI calls it before starting Ray, so an untrusted bundle is refused at once.

    Raises:
        FileNotFoundError: When ``path`` is not a folder.
        BundleIntegrityError: When the checksum file is missing.
        BundleSignatureError: As :func:`~alnm_ray.score.signing.verify_bundle_signature`.
    """
    checksums, signature = read_head(path)
    return verify_bundle_signature(str(path), checksums, signature,
                                   TrustPolicy.from_env() if trust is None else trust, quiet=quiet)


def read_bundle_files(path: PathLike, *, trust: TrustPolicy | None = None) -> BundleFiles:
    """Check a bundle folder's signature, then read its files into memory (nothing else is parsed).

    Only ``CHECKSUMS.sha256`` and ``SIGNATURE.json`` are read before the signature
    check; a bundle without a trusted signature is refused before any other file is opened.

    Args:
        path: The bundle folder.
        trust: Trusted keys (default :meth:`TrustPolicy.from_env`, ``$ALNM_RAY_TRUSTED_KEYS``).

    Raises:
        FileNotFoundError: When ``path`` is not a folder.
        BundleIntegrityError: When the checksum file is missing.
        BundleSignatureError: As :func:`~alnm_ray.score.signing.verify_bundle_signature`.
    """
    policy = TrustPolicy.from_env() if trust is None else trust
    checksums, signature = read_head(path)
    verify_bundle_signature(str(path), checksums, signature, policy, quiet=True)  # loading warns
    return BundleFiles(str(path), checksums, read_payload(path), signature, policy)


def load_bundle(path: PathLike, *, trust: TrustPolicy | None = None) -> Bundle:
    """Verify the signature and every checksum, then parse and rebuild a bundle.

    Args:
        path: The bundle folder.
        trust: Trusted keys and whether unsigned bundles are accepted
            (default: ``$ALNM_RAY_TRUSTED_KEYS``, unsigned refused).

    Returns:
        The loaded :class:`Bundle`.

    Raises:
        FileNotFoundError: When ``path`` is not a folder.
        BundleSignatureError: Unsigned, unknown signer or signature mismatch
            (nothing else is read).
        BundleIntegrityError: When any file was altered, removed or added
            (named; nothing is parsed), the metadata names a pickle format or
            violates the schema, or the model names untrusted types.
    """
    return load_bundle_files(read_bundle_files(path, trust=trust))


def load_bundle_files(files: BundleFiles) -> Bundle:
    """Verify in-memory bundle files (signature, then checksums), then rebuild the bundle.

    Raises:
        BundleIntegrityError: As :func:`load_bundle`.
    """
    source = files.source
    check = verify_bundle_signature(source, files.checksums, files.signature, files.trust)
    expected = parse_checksums(files.checksums.decode("utf-8", errors="replace"),
                               source=f"{source}/{CHECKSUM_FILE}")
    blobs = verify_blobs(files.blobs, expected, bundle=source)  # nothing below runs unless all match
    if METADATA_FILE not in blobs and "fusion.json" in blobs:
        from alnm_ray.exceptions import ConfigError

        raise ConfigError(
            f"bundle {source}: expected a single-model bundle (from `alnm-ray train`); got a post-fusion bundle "
            "(fusion.json: component bundles plus a signed meta model), which `alnm-ray score` does not score "
            f"in one call. Score each component bundle (`alnm-ray score {source}/components/<set> …`), then "
            "combine their probabilities with alnm_ray.protocol.fusion_bundle.score_fusion_bundle(bundle, "
            "{set: probabilities}).")
    if METADATA_FILE not in blobs:
        raise BundleIntegrityError(f"bundle {source}: expected {METADATA_FILE}; not found. "
                                   "Check the path points at a folder written by `alnm-ray train`.")
    try:
        meta = json.loads(blobs[METADATA_FILE])
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleIntegrityError(f"{source}/{METADATA_FILE}: expected JSON; found {err}. "
                                   "Re-create the bundle with `alnm-ray train`.") from err
    model_info = meta.get("model") if isinstance(meta, dict) else None
    if isinstance(model_info, dict):  # a pickle format is refused by name, before the schema and the model
        check_format(model_info.get("format"), name=f"{source}/{METADATA_FILE} model.format")
    validate_metadata(meta, source=f"{source}/{METADATA_FILE}")
    payload = {k: sha256_bytes(v) for k, v in blobs.items() if k != METADATA_FILE}
    if _content_id(meta, payload) != meta["bundle_id"]:
        raise BundleIntegrityError(
            f"{source}/{METADATA_FILE}: expected bundle_id {meta['bundle_id']} to match the bundle's content; "
            "it does not. Re-create the bundle with `alnm-ray train`.")
    optional = {k: meta["files"][k] for k in ("explain_background", "model_card") if k in meta["files"]}
    named = [meta["files"]["summary"], meta["model"]["file"], *meta["files"]["configs"].values(),
             *optional.values()]
    absent = sorted(set(named) - set(blobs))
    if absent:
        raise BundleIntegrityError(
            f"{source}/{METADATA_FILE}: expected the files it names to exist; missing {', '.join(absent)}. "
            "Re-create the bundle with `alnm-ray train`.")
    _warn_versions(meta, source)
    summary = TrainingDistribution.from_dict(json.loads(blobs[meta["files"]["summary"]]))
    configs = {name: yaml.safe_load(blobs[rel]) for name, rel in meta["files"]["configs"].items()}
    info = meta["model"]
    model = load_model(blobs[info["file"]], info["format"], name=f"{source}/{info['file']}")
    return Bundle(path=source, metadata=meta, model=model, summary=summary, configs=configs, signature=check,
                  extras={k: blobs[rel] for k, rel in optional.items()})


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    import io

    buf = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buf, index=False)
    return buf.getvalue()


def _warn_versions(meta: dict[str, Any], source: str) -> None:
    recorded = meta.get("library_versions", {})
    now = library_versions()
    differ = [f"{lib} {recorded.get(lib)} -> {now.get(lib)}" for lib in MODEL_LIBRARIES
              if recorded.get(lib) != now.get(lib)]
    if differ:
        message = (f"bundle {source}: trained with other library versions ({'; '.join(differ)}); "
                   "predictions may differ slightly. Re-train with the installed versions to be sure.")
        warnings.warn(message, LibraryVersionWarning, stacklevel=3)
        logger.warning(message)

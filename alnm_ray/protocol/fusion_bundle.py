"""Freezing a protocol's final model as a signed bundle -- post-fusion models included.

A plain feature set becomes one bundle (:func:`~alnm_ray.score.train.train_bundle`).
A post-fusion set becomes a folder holding

* ``components/<set>/`` -- one signed bundle per component (the single-modal
  models, each fitted on the whole training set), and
* ``fusion.json`` + ``meta.skops`` -- the meta SVM, trained on out-of-fold
  probabilities of the components inside the training set (so it never learns
  from in-sample fits), its component order and its training-set Youden
  threshold;
* ``CHECKSUMS.sha256`` over those files and every component's checksum file,
  and ``SIGNATURE.json`` (Ed25519, the same key as the components).

:func:`score_fusion_bundle` verifies the checksums, loads the meta model with
skops (trusted types only) and combines the components' probabilities.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from alnm_ray.exceptions import ConfigError
from alnm_ray.protocol.model import Protocol

FUSION_FILE = "fusion.json"
META_FILE = "meta.skops"
COMPONENTS_DIR = "components"


def _train_config(p: Protocol, fs: str, clf: str, pins: dict[str, str], run_dir: str):
    from alnm_ray.score.train import TrainConfig

    return TrainConfig(feature_set=fs, classifier=clf, classifier_params=p.classifiers.get(clf, {}),
                       selection=p.selection_dict(), seed=p.cv()[2],
                       tables={t: v for t, v in pins.items() if t in _tables(fs)}, reader=p.reader,
                       split=p.training_split, run=run_dir,
                       protocol={"name": p.name, "version": p.version, "hash": p.hash})


def _tables(fs: str) -> set[str]:
    from alnm_ray.tune.inputs import tables_of

    return set(tables_of(fs))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def freeze_final_model(p: Protocol, store: Any, fs: str, clf: str, pins: dict[str, str], out: Path,
                       opts: Any) -> dict[str, Any]:
    """Write the final model's bundle to ``out`` and return its record for ``stages.json``."""
    from alnm_ray.score.signing import resolve_signing_key
    from alnm_ray.score.train import train_bundle

    key = resolve_signing_key(opts.signing_key, unsigned=opts.unsigned)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    if not fs.startswith("post:"):
        res = train_bundle(store, _train_config(p, fs, clf, pins, str(out.parent)), str(out),
                           signing_key=key, unsigned=key is None)
        return {"feature_set": fs, "classifier": clf, "path": str(out), "bundle_id": res.bundle_id,
                "kind": "plain", "threshold": res.threshold, "signed": key is not None}
    return _freeze_fusion(p, store, fs, clf, pins, out, key, opts)


def _freeze_fusion(p: Protocol, store: Any, fs: str, clf: str, pins: dict[str, str], out: Path, key: Any,
                   opts: Any) -> dict[str, Any]:
    import dataclasses

    from alnm_ray.model.fusion import fit_post_fusion
    from alnm_ray.model.inputs import prepare_metadata, prepare_reader_table
    from alnm_ray.score.checksums import CHECKSUM_FILE, SIGNATURE_FILE
    from alnm_ray.score.serialize import dump_model
    from alnm_ray.score.signing import sign_checksums
    from alnm_ray.score.train import train_bundle
    from alnm_ray.tune import load_inputs
    from alnm_ray.protocol.runner import training_inputs, tune_config

    parts = [t.strip() for t in fs[len("post:"):].split("+")]
    out.mkdir(parents=True)
    ids = {}
    for part in parts:
        res = train_bundle(store, _train_config(p, part, clf, pins, str(out.parent)),
                           str(out / COMPONENTS_DIR / part), signing_key=key, unsigned=key is None)
        ids[part] = res.bundle_id
    cfg = tune_config(p, dataclasses.replace(opts, quiet=True), pins, None)
    cfg = cfg.replace(feature_sets=tuple(parts), tables=tuple(sorted(pins.items())))
    train = training_inputs(p, load_inputs(store, cfg))
    sel = p.selection_config()
    reader = prepare_reader_table(sel, train.sets, train.reader_ratings)
    # The meta model's inner folds harmonise like every other fit (ComBat learned per training fold).
    metadata = prepare_metadata(sel, train.y.index, train.centers)
    fitted = fit_post_fusion({n: train.sets[n] for n in parts}, train.y.to_numpy(int), {clf: p.classifiers.get(clf, {})},
                             sel, inner_folds=p.inner_folds(), meta_params=p.post_fusion.get("meta_params"),
                             reader_table=reader, seed=p.cv()[2], metadata=metadata)[clf]
    oof = fitted.oof_.to_numpy(float)
    data, info = dump_model(fitted.meta_, probe=oof[:8])
    (out / META_FILE).write_bytes(data)
    fmt = info.get("format")
    doc = {"format": "alnm-ray post-fusion bundle", "version": 1, "feature_set": fs, "classifier": clf,
           "components": parts, "component_bundles": ids, "meta": {"file": META_FILE, "model": "svm",
                                                                    "params": p.post_fusion.get("meta_params")},
           "threshold": float(fitted.threshold_), "threshold_method": "youden on out-of-fold meta probabilities",
           "protocol": {"name": p.name, "version": p.version, "hash": p.hash}, "meta_format": fmt}
    (out / FUSION_FILE).write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    lines = [f"{_sha(out / FUSION_FILE)}  {FUSION_FILE}", f"{_sha(out / META_FILE)}  {META_FILE}"]
    lines += [f"{_sha(out / COMPONENTS_DIR / part / CHECKSUM_FILE)}  {COMPONENTS_DIR}/{part}/{CHECKSUM_FILE}"
              for part in parts]
    (out / CHECKSUM_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if key is not None:
        (out / SIGNATURE_FILE).write_bytes(sign_checksums((out / CHECKSUM_FILE).read_bytes(), key))
    return {"feature_set": fs, "classifier": clf, "path": str(out), "kind": "post-fusion",
            "components": ids, "threshold": float(fitted.threshold_), "signed": key is not None}


def verify_fusion_bundle(path: Path) -> dict[str, Any]:
    """Check every checksum of a post-fusion bundle; return its ``fusion.json``.

    Raises:
        ConfigError: A file is missing or changed.
    """
    from alnm_ray.score.checksums import CHECKSUM_FILE

    path = Path(path)
    for line in (path / CHECKSUM_FILE).read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        target = path / name
        if not target.is_file() or _sha(target) != digest:
            raise ConfigError(f"post-fusion bundle {path}: {name}: expected SHA-256 {digest[:12]}…; found "
                              f"{'no file' if not target.is_file() else 'different content'}. The bundle was "
                              "changed after it was written; use the original bundle.")
    return json.loads((path / "fusion.json").read_text(encoding="utf-8"))


def score_fusion_bundle(path: Path, component_probabilities: dict[str, np.ndarray]) -> np.ndarray:
    """P(ALNM) of the post-fusion model from its components' probabilities (rows in one order)."""
    from alnm_ray.score.serialize import load_model

    doc = verify_fusion_bundle(path)
    meta = load_model((Path(path) / doc["meta"]["file"]).read_bytes(), doc.get("meta_format") or "skops",
                      name=doc["meta"]["file"])
    Z = np.column_stack([np.asarray(component_probabilities[c], dtype=float) for c in doc["components"]])
    return meta.predict_proba(Z)[:, 1]


__all__ = ["FUSION_FILE", "freeze_final_model", "score_fusion_bundle", "verify_fusion_bundle"]

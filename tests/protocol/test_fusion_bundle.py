"""A post-fusion bundle of a protocol with ``harmonize: combat``: the meta model's inner folds
harmonise with ComBat learned on each inner training fold (the same fit as fit_post_fusion's)."""

from __future__ import annotations

import json
import warnings

import pytest

from alnm_ray.exceptions import FallbackWarning
from alnm_ray.model.fusion import fit_post_fusion
from alnm_ray.model.inputs import prepare_metadata
from alnm_ray.protocol.fusion_bundle import FUSION_FILE, freeze_final_model
from alnm_ray.protocol.runner import RunOptions, training_inputs, tune_config
from alnm_ray.tune import load_inputs

from ._combat_protocol import combat_protocol, make_store

FS = "post:radiomics+deep"


def test_post_fusion_bundle_fits_combat_inside_the_training_folds(tmp_path) -> None:
    p = combat_protocol(post=True)
    store = make_store(tmp_path / "store", n=60, split=True, n_centers=3)["store"]
    pins = {t: store.resolve(t).version for t in ("radiomics", "deep")}
    opts = RunOptions(manifests=(), store=store.uri, out=str(tmp_path / "run"), unsigned=True, quiet=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fallbacks of the tiny selection, unsigned-bundle notes
        record = freeze_final_model(p, store, FS, "lr", pins, tmp_path / "run" / "bundle", opts)
        doc = json.loads((tmp_path / "run" / "bundle" / FUSION_FILE).read_text(encoding="utf-8"))
        cfg = tune_config(p, opts, pins, None).replace(feature_sets=("radiomics", "deep"),
                                                       tables=tuple(sorted(pins.items())))
        train = training_inputs(p, load_inputs(store, cfg))
        sel = p.selection_config()
        parts = {n: train.sets[n] for n in ("radiomics", "deep")}
        kw = dict(inner_folds=p.inner_folds(), meta_params=p.post_fusion.get("meta_params"), seed=p.cv()[2])
        ref = fit_post_fusion(parts, train.y.to_numpy(int), {"lr": {}}, sel,
                              metadata=prepare_metadata(sel, train.y.index, train.centers), **kw)["lr"]
        plain = fit_post_fusion(parts, train.y.to_numpy(int), {"lr": {}}, sel.replace(harmonize=None), **kw)["lr"]
    assert record["kind"] == "post-fusion"
    # the bundle's meta model is the one trained on ComBat-harmonised inner folds ...
    assert doc["threshold"] == pytest.approx(ref.threshold_, abs=1e-12)
    assert ref.oof_.to_numpy().tolist() != plain.oof_.to_numpy().tolist()
    # ... and ComBat is a fitted step of each component's selection, learned on training rows only
    combat = ref.selections_["radiomics"].pipeline.named_steps["combat"]
    assert sum(combat.n_per_batch_.values()) == len(train.y) < 60
    assert "combat" not in ref.selections_["deep"].pipeline.named_steps  # combat_kinds: [radiomics]

"""A post-fusion bundle handed to the single-model loader is refused, naming how to score it."""

from __future__ import annotations

import hashlib
import json

import pytest

from alnm_ray.exceptions import ConfigError
from alnm_ray.score.bundle import load_bundle
from alnm_ray.score.signing import TrustPolicy


def test_post_fusion_bundle_is_refused_with_the_way_to_score_it(tmp_path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    doc = json.dumps({"format": "alnm-ray post-fusion bundle", "components": ["radiomics", "deep"]}).encode()
    (bundle / "fusion.json").write_bytes(doc)
    (bundle / "CHECKSUMS.sha256").write_text(f"{hashlib.sha256(doc).hexdigest()}  fusion.json\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_bundle(bundle, trust=TrustPolicy.from_paths((), allow_unsigned=True, env=False))
    text = str(info.value)
    assert text.startswith(f"bundle {bundle}: expected a single-model bundle (from `alnm-ray train`); got a "
                           "post-fusion bundle")
    assert f"`alnm-ray score {bundle}/components/<set> …`" in text
    assert "alnm_ray.protocol.fusion_bundle.score_fusion_bundle(bundle, {set: probabilities})" in text

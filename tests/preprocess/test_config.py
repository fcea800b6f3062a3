import pytest
import yaml

from alnm_ray.exceptions import ConfigError
from alnm_ray.preprocess.config import PreprocessConfig, PreprocessPlan, load_plan


def test_guo2024_preset_matches_the_paper():
    plan = PreprocessPlan.preset("guo2024")
    for seq in ("T2WI", "DWI", "ADC", "DCE_P2"):
        cfg = plan.for_sequence(seq)
        assert cfg.n4 and cfg.spacing == (1.0, 1.0, 1.0) and cfg.normalize == "zscore" and cfg.crop
        assert cfg.interpolator == "bspline"
    mg = plan.for_sequence("MG_CC")
    assert not mg.n4 and mg.spacing is None and mg.crop


def test_none_preset_turns_every_step_off():
    plan = load_plan("none")
    assert not plan.enabled
    assert not plan.for_sequence("T2WI").enabled


def test_yaml_round_trip_and_stable_hash(tmp_path):
    plan = PreprocessPlan.preset("guo2024")
    path = tmp_path / "p.yaml"
    path.write_text(plan.to_yaml(), encoding="utf-8")
    again = load_plan(path)
    assert again == plan and again.hash() == plan.hash()
    changed = PreprocessPlan(name="x", default=plan.default,
                             sequences=tuple((s, PreprocessConfig(n4=True, n4_shrink_factor=2))
                                             for s, _ in plan.sequences))
    assert changed.hash() != plan.hash()
    # the name is a label, not part of the content
    assert PreprocessPlan(name="a").hash() == PreprocessPlan(name="b").hash()


def test_unknown_key_names_the_sequence_and_suggests(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"sequences": {"T2WI": {"n4_shrink": 2}}}), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_plan(path)
    text = str(err.value)
    assert "sequence T2WI" in text and "'n4_shrink'" in text and "Did you mean 'n4_shrink_factor'" in text


@pytest.mark.parametrize("kwargs, fragment", [
    ({"spacing": (1.0, -1.0, 1.0)}, "spacing: expected 2 or 3 positive values"),
    ({"normalize": "zscor"}, "Did you mean 'zscore'"),
    ({"interpolator": "cubic"}, "interpolator: expected one of bspline, linear, nearest"),
    ({"n4_shrink_factor": 0}, "n4_shrink_factor"),
    ({"normalize_percentiles": (99.0, 1.0)}, "low < high"),
])
def test_bad_values_are_rejected(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        PreprocessConfig(**kwargs)


def test_load_plan_rejects_unknown_spec():
    with pytest.raises(ConfigError, match="expected a preset"):
        load_plan("guo2042")

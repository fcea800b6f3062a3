"""The ``harmonize: combat`` selection option: validation, presets, hashing, and where the
step sits in the built pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from alnm_ray.exceptions import ConfigError
from alnm_ray.select import SelectionConfig
from alnm_ray.select.config import PRESETS
from alnm_ray.select.pipeline import build_selection_pipeline


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_off_in_every_paper_preset_and_not_in_their_hash(name):
    cfg = SelectionConfig.preset(name)
    assert cfg.harmonize is None
    assert "combat" not in [n for n, _ in build_selection_pipeline(cfg, kinds={"deep"}).steps]
    # combat_* settings without harmonisation change nothing, so neither the hash
    assert cfg.replace(combat_mean_only=True).config_hash() == cfg.config_hash()
    on = cfg.replace(harmonize="combat")
    assert on.config_hash() != cfg.config_hash()
    assert on.replace(combat_parametric=False).config_hash() != on.config_hash()
    back = SelectionConfig.from_yaml(on.to_yaml())
    assert back == on and back.to_dict()["harmonize"] == "combat"


def test_options_are_validated_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"harmonize: expected one of combat; got 'combta'\. "
                                          r"Did you mean 'combat'\?"):
        SelectionConfig(harmonize="combta")
    with pytest.raises(ConfigError, match=r"combat_unseen: expected one of none, reference, "
                                          r"refuse; got 'refused'\. Did you mean 'refuse'\?"):
        SelectionConfig(harmonize="combat", combat_unseen="refused")
    with pytest.raises(ConfigError, match=r"combat_kinds: .*got 'radiomic'\. Did you mean"):
        SelectionConfig(harmonize="combat", combat_kinds=("radiomic",))
    with pytest.raises(ConfigError, match=r"combat_reference: expected the centre .* got None"):
        SelectionConfig(harmonize="combat", combat_unseen="reference")
    with pytest.raises(ConfigError, match=r"combat_covariates: 'label' is the outcome"):
        SelectionConfig(harmonize="combat", combat_covariates=["age", "label"])
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['harmonise'\].*Did you mean "
                                          r"'harmonize'\?"):
        SelectionConfig.from_dict({"preset": "guo2024", "harmonise": "combat"})


def test_step_comes_before_smote_and_zscore_with_the_configured_parameters():
    cfg = SelectionConfig.from_dict({
        "preset": "liu2025", "smote": True, "harmonize": "combat", "combat_parametric": False,
        "combat_mean_only": True, "combat_covariates": ["age"], "combat_unseen": "reference",
        "combat_reference": 2})
    pipe = build_selection_pipeline(cfg, kinds={"radiomics", "clinical"}, encode=True)
    assert [n for n, _ in pipe.steps][:4] == ["encode", "combat", "smote", "zscore"]
    combat = pipe.named_steps["combat"]
    assert (combat.parametric, combat.mean_only, tuple(combat.covariates), combat.unseen,
            combat.reference_batch, tuple(combat.kinds)) == (
        False, True, ("age",), "reference", "2", ("radiomics", "deep"))
    # a clinical-only set has nothing ComBat adjusts by default: no step, no centres needed
    clinical = build_selection_pipeline(cfg, kinds={"clinical"}, encode=True)
    assert "combat" not in clinical.named_steps


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "protocols" / "multicentre_combat.yaml"


def test_example_protocol_passes_check_and_turns_combat_on(tmp_path):
    from click.testing import CliRunner

    from alnm_ray.cli.main import cli
    from alnm_ray.protocol import load_protocol

    result = CliRunner().invoke(cli, ["protocol", "check", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "protocol multicentre_combat v1" in result.output and ": ok" in result.output
    cfg = load_protocol(EXAMPLE).selection_config()
    assert (cfg.harmonize, cfg.combat_kinds, cfg.combat_unseen) == ("combat", ("radiomics",),
                                                                    "refuse")
    # the shipped paper protocol it copies keeps harmonisation off
    assert load_protocol("guo2024").selection_config().harmonize is None
    # a misspelt option fails the same check, naming the fix
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace("harmonize: combat",
                                                               "harmonize: combta"),
                   encoding="utf-8")
    result = CliRunner().invoke(cli, ["protocol", "check", str(bad)])
    assert result.exit_code != 0 and "Did you mean 'combat'?" in result.output

"""``synth --like``: each study shape's sequences, readers, splits, clinical table, signal and validity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

from alnm_ray.cli.main import cli
from alnm_ray.exceptions import ConfigError
from alnm_ray.synth import STUDIES, SynthConfig, generate_cohort, look_up_study, plan_cohort
from alnm_ray.synth.studies import READER_CALL_COLUMNS

from .conftest import tree_hashes

#: Small cohorts, one per shape, written once per module (seconds at --size small).
SIZES = {"liu2025": 24, "gu2025": 40, "zhang2025": 60}
#: What each shape must write: sequences, reader roles, split values, cohort suffixes.
EXPECTED = {
    "liu2025": (("MG_CC", "MG_MLO"), {"A"}, {"train", "validation", "test"}, {"", "_test"}),
    "gu2025": (("DCE_P1",), {"A", "B"}, {"train", "validation", "external"}, {""}),
    "zhang2025": (("US_TUMOR", "US_LN"), {"A", "B", "A2"}, {"train", "test", "external", "prospective"},
                  {"", "_prospective"}),
}


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("like")
    return {like: generate_cohort(root / like, SynthConfig(patients=n, seed=5, like=like), parallel="serial",
                                  quiet=True) for like, n in SIZES.items()}


def _tables(info) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(info.manifest, keep_default_na=False), pd.read_csv(info.clinical)


@pytest.mark.parametrize("like", sorted(SIZES))
def test_each_shape_writes_its_sequences_readers_splits_and_columns(cohorts, like):
    manifest, clinical = _tables(cohorts[like])
    sequences, readers, splits, suffixes = EXPECTED[like]
    assert tuple(manifest.sequence.drop_duplicates()) == sequences
    assert set(manifest.reader) == readers
    assert set(manifest.split) == splits
    assert {c.removeprefix("synth") for c in manifest.cohort} == suffixes
    assert list(clinical.columns[3:]) == list(STUDIES[like].clinical_columns)
    per_patient = manifest.drop_duplicates("patient_id")
    assert len(per_patient) == SIZES[like] and len(clinical) == SIZES[like]
    # Second readers outline a subset only, drawn from the paper's pool.
    second = set(manifest.loc[manifest.reader != "A", "patient_id"])
    assert (0 < len(second) < SIZES[like]) == (like != "liu2025")
    if like == "zhang2025":
        assert set(per_patient.set_index("patient_id").loc[sorted(second), "split"]) == {"train"}


def test_centres_follow_each_papers_design(cohorts):
    liu, _ = _tables(cohorts["liu2025"])
    assert set(liu.center) == {"C1"} and set(liu.loc[liu.split == "test", "cohort"]) == {"synth_test"}
    gu, _ = _tables(cohorts["gu2025"])
    assert set(gu.loc[gu.split == "external", "center"]) == {"C2"}
    assert set(gu.loc[gu.split != "external", "center"]) == {"C1"}
    zhang, _ = _tables(cohorts["zhang2025"])
    assert set(zhang.loc[zhang.split.isin(["train", "test", "prospective"]), "center"]) == {"C1"}
    assert set(zhang.loc[zhang.split == "external", "center"]) == {f"C{k}" for k in range(2, 7)}
    assert set(zhang.loc[zhang.split == "prospective", "cohort"]) == {"synth_prospective"}


@pytest.mark.parametrize("like", sorted(SIZES))
def test_validate_accepts_each_manifest_and_clinical_table(cohorts, like):
    info = cohorts[like]
    result = CliRunner().invoke(cli, ["validate", str(info.manifest), "--clinical", str(info.clinical)])
    assert result.exit_code == 0, result.output


def test_reader_calls_exist_on_the_prospective_set_only(cohorts):
    manifest, clinical = _tables(cohorts["zhang2025"])
    split = manifest.drop_duplicates("patient_id").set_index("patient_id").split
    prospective = clinical.patient_id.map(split) == "prospective"
    calls = clinical[list(READER_CALL_COLUMNS)]
    assert calls[prospective].notna().all().all() and calls[~prospective].isna().all().all()
    assert set(np.unique(calls[prospective].to_numpy())) <= {0, 1}


def _read(path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_us_lesion_and_node_sit_where_their_masks_are(cohorts):
    from scipy.ndimage import binary_dilation

    info = cohorts["zhang2025"]
    manifest, _ = _tables(info)
    rows = manifest[(manifest.reader == "A")]
    darker = []
    for row in rows.itertuples():
        image, mask = _read(info.out_dir / row.image), _read(info.out_dir / row.mask).astype(bool)
        assert image.dtype == np.uint8 and image.shape == mask.shape and mask.ndim == 2 and mask.any()
        ring = binary_dilation(mask, iterations=6) & ~binary_dilation(mask, iterations=2)
        darker.append((row.sequence, image[mask].mean() < image[ring].mean()))
    tumour = [d for s, d in darker if s == "US_TUMOR"]
    assert all(tumour)  # hypoechoic tumour inside its outline, every patient
    # The node's cortex is hypoechoic: most nodes are darker than the fat around them.
    node = [d for s, d in darker if s == "US_LN"]
    assert np.mean(node) > 0.6


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    cfg = SynthConfig(patients=14, seed=8, like="zhang2025", centers=3)
    a = generate_cohort(tmp_path / "a", cfg, parallel="serial", quiet=True)
    b = generate_cohort(tmp_path / "b", cfg, parallel="serial", quiet=True)
    ha, hb = tree_hashes(a.out_dir), tree_hashes(b.out_dir)
    assert ha == hb
    c = generate_cohort(tmp_path / "c", SynthConfig(patients=14, seed=9, like="zhang2025", centers=3),
                        parallel="serial", quiet=True)
    assert tree_hashes(c.out_dir)["images/P0001/US_TUMOR.nii.gz"] != ha["images/P0001/US_TUMOR.nii.gz"]


# --- the signal: found at the default, at chance with --signal 0 ------------------------------

def _clinical_score(like: str, c: pd.DataFrame) -> pd.Series:
    """A fixed (unfitted) score on the variables each paper found associated with ALNM."""
    if like == "zhang2025":
        size = c.tumor_size_cm
        return (size - size.mean()) / size.std() + (c.margin == "Non-circumscribed") \
            + 2 * (c.us_reported_alnm == "Present")
    if like == "gu2025":
        size = c.max_diameter_cm
        return (size - size.mean()) / size.std() + (c.ki67 == ">=20%") + (c.her2 == "Positive")
    size = c.diameter_cm
    return (size - size.mean()) / size.std() + (c.margin == "Spiculated") + 2 * (c.mg_reported_ln == "Positive")


def _oracle_auc(tmp_path, like: str, patients: int, seed: int, signal: float) -> float:
    info = generate_cohort(tmp_path / f"{like}_{seed}_{signal}",
                           SynthConfig(patients=patients, seed=seed, like=like, signal=signal),
                           parallel="serial", quiet=True)
    manifest, clinical = _tables(info)
    labels = manifest.drop_duplicates("patient_id").set_index("patient_id").label.loc[clinical.patient_id]
    return float(roc_auc_score(labels.to_numpy(), _clinical_score(like, clinical)))


def _signal_check(tmp_path, like: str, patients: int) -> None:
    assert _oracle_auc(tmp_path, like, 120, seed=2, signal=1.0) > 0.65
    chance = [_oracle_auc(tmp_path, like, patients, seed=s, signal=0.0) for s in (1, 2, 3)]
    assert abs(np.mean(chance) - 0.5) < 0.08, chance


@pytest.mark.parametrize("like", ["gu2025", "zhang2025"])
def test_clinical_oracle_finds_the_signal_and_is_at_chance_without_it(tmp_path, like):
    _signal_check(tmp_path, like, 80)


@pytest.mark.slow
def test_liu2025_clinical_oracle_finds_the_signal_and_is_at_chance_without_it(tmp_path):
    _signal_check(tmp_path, "liu2025", 80)


def test_a_first_order_node_feature_carries_the_signal(tmp_path):
    info = generate_cohort(tmp_path / "z", SynthConfig(patients=120, seed=4, like="zhang2025"),
                           parallel="serial", quiet=True)
    manifest, _ = _tables(info)
    rows = manifest[(manifest.reader == "A") & (manifest.sequence == "US_LN")]
    # Involved nodes: thick hypoechoic cortex, effaced hilum → darker inside the outline.
    dark = [-_read(info.out_dir / r.image)[_read(info.out_dir / r.mask) > 0].mean() for r in rows.itertuples()]
    assert roc_auc_score(rows.label, dark) > 0.65


# --- config and CLI ------------------------------------------------------------------------

def test_defaults_follow_the_paper_and_bad_designs_are_refused():
    gu = SynthConfig(patients=100, like="gu2025")
    assert (gu.centers, gu.test_fraction, gu.n_repeat_readers) == (2, 0.3, 10)
    assert SynthConfig(patients=100, like="zhang2025").test_fraction == 0.2
    assert SynthConfig(patients=50, like="liu2025").n_repeat == 0
    assert SynthConfig(patients=50).n_repeat == 30  # guo2024 unchanged
    with pytest.raises(ConfigError, match=r"expected 2 with --like gu2025.*got 3\. Drop --centers"):
        SynthConfig(patients=40, like="gu2025", centers=3)
    with pytest.raises(ConfigError, match=r"expected 0 with --like liu2025.*got 5\. Drop --repeat-readers"):
        SynthConfig(patients=40, like="liu2025", n_repeat_readers=5)
    with pytest.raises(ConfigError, match=r"enough patients for every arm of --like zhang2025.*Raise --patients"):
        SynthConfig(patients=6, like="zhang2025")
    with pytest.raises(ConfigError, match=r"like \(--like\): expected one of .*got 'zang2025'.*zhang2025"):
        look_up_study("zang2025")


def test_planning_is_cheap_and_matches_the_generated_splits(cohorts):
    plans = plan_cohort(SynthConfig(patients=SIZES["gu2025"], seed=5, like="gu2025"))
    manifest, _ = _tables(cohorts["gu2025"])
    split = manifest.drop_duplicates("patient_id").set_index("patient_id").split
    assert {p.patient_id: p.split for p in plans} == split.to_dict()


def test_cli_like_writes_the_shape_and_suggests_a_name(tmp_path):
    runner = CliRunner()
    out = tmp_path / "us"
    ok = runner.invoke(cli, ["-q", "synth", str(out), "--like", "zhang2025", "--patients", "12", "--centers", "3",
                             "--seed", "2"])
    assert ok.exit_code == 0, ok.output
    assert "shaped like zhang2025: US_TUMOR, US_LN" in ok.output
    assert set(pd.read_csv(out / "manifest.csv").sequence) == {"US_TUMOR", "US_LN"}
    bad = runner.invoke(cli, ["synth", str(tmp_path / "x"), "--like", "zang2025"])
    assert bad.exit_code != 0 and "zhang2025" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "x").exists()

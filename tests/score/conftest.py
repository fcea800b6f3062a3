"""Fixtures for the scoring tests: a small fitted pipeline and a bundle written from it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_wide(rng: np.random.Generator, n: int, *, n_features: int = 8, shift: float = 0.0,
              cohort: str = "train", center: str = "c1") -> tuple[pd.DataFrame, np.ndarray]:
    """Wide per-patient features with signal in the first two columns."""
    y = (rng.random(n) < 0.45).astype(int)
    X = rng.normal(size=(n, n_features))
    X[:, 0] += 1.2 * y
    X[:, 1] -= 0.8 * y
    X[:, 0] += shift
    cols = [f"T2WI__original_firstorder_F{i}" for i in range(n_features)]
    frame = pd.DataFrame(X, columns=cols, index=pd.Index([f"{cohort}-{i:04d}" for i in range(n)],
                                                         name="patient_id"))
    return frame, y


def small_pipeline(seed: int = 0):
    from imblearn.pipeline import Pipeline
    from sklearn.linear_model import LogisticRegression

    from alnm_ray.select import UnivariateFilter, ZScoreScaler

    return Pipeline([("zscore", ZScoreScaler()), ("univariate", UnivariateFilter()),
                     ("clf", LogisticRegression(random_state=seed))])


@pytest.fixture
def train_data(rng):
    return make_wide(rng, 120)


@pytest.fixture
def fitted(train_data):
    X, y = train_data
    return small_pipeline().fit(X, y)


def bundle_metadata(X: pd.DataFrame, y: np.ndarray, model) -> dict:
    selected = ([str(c) for c in model[:-1].get_feature_names_out()] if hasattr(model, "steps")
                else list(X.columns))
    return {
        "feature_set": "radiomics", "classifier": "lr", "classifier_params": {}, "threshold": 0.5,
        "threshold_method": "fixed", "features": list(X.columns), "selected_features": selected,
        "feature_tables": {"radiomics": "0" * 64}, "seeds": {"train": 0},
        "training": {"n_patients": int(len(y)), "n_positive": int(y.sum())},
    }


@pytest.fixture
def bundle_dir(tmp_path, train_data, fitted):
    from alnm_ray.score.bundle import write_bundle
    from alnm_ray.score.drift import TrainingDistribution

    X, y = train_data
    meta = bundle_metadata(X, y, fitted)
    summary = TrainingDistribution().fit(X, meta["selected_features"])
    out = tmp_path / "bundle"
    write_bundle(out, model=fitted, metadata=meta, summary=summary,
                 configs={"radiomics": {"params": {"setting": {"binWidth": 25}}}}, probe=X.head(10))
    return out


@pytest.fixture(scope="session")
def wide_factory():
    """``make_wide(rng, n, n_features=8, shift=0.0, cohort=..., center=...)``."""
    return make_wide


@pytest.fixture(scope="session")
def pipeline_factory():
    """``small_pipeline(seed)``: z-score -> univariate -> logistic regression."""
    return small_pipeline


@pytest.fixture(scope="session")
def metadata_factory():
    """``bundle_metadata(X, y, fitted_model)``."""
    return bundle_metadata


#: A fast version of the paper's selection (same steps, fewer LASSO repeats).
FAST_SELECTION = {"preset": "guo2024", "lasso_repeats": 2, "lasso_folds": 3, "mrmr_k": 5}


def make_long(rng: np.random.Generator, n: int, *, cohort: str = "train_c", center: str = "c1",
              shift: float = 0.0, n_features: int = 8, repeat_readers: int = 20, split: bool = True,
              labels: bool = True) -> pd.DataFrame:
    """Long radiomics rows (T2WI + ADC, reader A; B and A2 for the first ``repeat_readers`` patients)."""
    rows = []
    y = (rng.random(n) < 0.45).astype(int)
    for p in range(n):
        for seq in ("T2WI", "ADC"):
            base = rng.normal(size=n_features)
            base[0] += 1.5 * y[p] + shift
            base[1] -= 1.0 * y[p]
            readers = [("A", 0.0)] + ([("B", 0.05), ("A2", 0.03)] if p < repeat_readers else [])
            for reader, noise in readers:
                row = {"cohort": cohort, "center": center, "patient_id": f"{cohort}-{p:04d}", "sequence": seq,
                       "reader": reader}
                if labels:
                    row["label"] = int(y[p])
                if split:
                    row["split"] = "train" if p < int(0.7 * n) else "test"
                row.update({f"original_firstorder_F{i}": float(base[i] + (rng.normal(0, noise) if noise else 0.0))
                            for i in range(n_features)})
                rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def long_factory():
    """``make_long(rng, n, cohort=, center=, shift=, n_features=, repeat_readers=, split=, labels=)``."""
    return make_long


@pytest.fixture(scope="session")
def fast_selection():
    return dict(FAST_SELECTION)


def write_image_cohort(root, rng: np.random.Generator, n: int, *, cohort: str, center: str = "c1",
                       labelled: bool = True, broken: tuple[int, ...] = ()) -> str:
    """Tiny T2WI volumes (10x20x20 voxels, 1 mm) whose lesion brightness carries the label; a manifest CSV.

    Patients listed in ``broken`` point at an image file that does not exist.
    """
    import SimpleITK as sitk

    folder = root / cohort
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for p in range(n):
        y = int(rng.random() < 0.5) if p > 1 else p  # both classes always present
        vol = rng.normal(100.0, 8.0, size=(10, 20, 20)).astype(np.float32)
        mask = np.zeros((10, 20, 20), np.uint8)
        half = 2 + int(rng.integers(0, 2))
        mask[5 - half:5 + half, 10 - half - 1:10 + half + 1, 10 - half:10 + half] = 1
        vol[mask == 1] += 25.0 * y + rng.normal(0, 6.0, size=int(mask.sum()))
        pid = f"{cohort}-{p:03d}"
        for arr, name in ((vol, "img"), (mask, "msk")):
            img = sitk.GetImageFromArray(arr)
            img.SetSpacing((1.0, 1.0, 1.0))
            sitk.WriteImage(img, str(folder / f"{pid}_{name}.nii.gz"))
        image = f"{pid}_img.nii.gz" if p not in broken else f"{pid}_gone.nii.gz"
        rows.append({"cohort": cohort, "center": center, "patient_id": pid, "sequence": "T2WI", "reader": "A",
                     "image": image, "mask": f"{pid}_msk.nii.gz", **({"label": y} if labelled else {})})
    path = folder / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


#: Few, cheap PyRadiomics features keep extraction of the tiny cohorts fast.
TINY_PARAMS = {"imageType": {"Original": {}},
               "featureClass": {"firstorder": ["Mean", "Median", "Maximum", "Minimum", "Energy", "Variance",
                                               "Skewness", "Kurtosis", "Range", "RootMeanSquared"]},
               "setting": {"binWidth": 25, "label": 1}}


@pytest.fixture(scope="session")
def image_cohort_factory():
    """``write_image_cohort(root, rng, n, cohort=, center=, labelled=, broken=)`` -> manifest path."""
    return write_image_cohort


@pytest.fixture(scope="session")
def tiny_params():
    return dict(TINY_PARAMS)

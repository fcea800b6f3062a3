"""Reading a sweep's inputs from the store and assembling its feature sets.

Feature-set names (``--feature-sets``) follow :mod:`alnm_ray.model.feature_spec`:

* ``radiomics``, ``deep``, ``combined`` (radiomics + deep, pre-fusion),
  ``clinical``, ``clinical+radiomics`` ... and the name of any other feature
  table in the store (an imported one);
* ``post:clinical+radiomics+deep`` -- post-fusion: an SVM stacked on the
  named sets' per-modality probabilities;
* ``all`` -- every default set whose tables exist, plus post-fusion of the
  available modalities (clinical, radiomics, deep) when there are two or more.

The store's feature tables are those whose role is ``feature``
(:meth:`alnm_ray.store.FeatureStore.feature_tables`).  Tables, labels, centres
and splits are read with :func:`alnm_ray.model.cohort.read_cohort` (its label
rule: first non-missing value across tables, disagreement is an error);
unlabelled patients are excluded and counted.  The clinical table comes from a
``--clinical`` file (stored as a new ``clinical`` version so ``alnm-ray train
--run`` finds the same data) or the store's ``clinical`` table.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from alnm_ray import constants as C
from alnm_ray._validation import capped, did_you_mean
from alnm_ray.exceptions import ConfigError, FallbackWarning, SchemaMismatchError, StoreError
from alnm_ray.model.cohort import read_cohort
from alnm_ray.model.feature_sets import DEFAULT_FEATURE_SETS, drop_empty_columns, feature_columns
from alnm_ray.model.feature_spec import POST_PREFIX, SET_TOKENS, TOKEN_SEP, FeatureSetSpec, tables_needed
from alnm_ray.select.columns import KIND_RADIOMICS, kinds_of
from alnm_ray.tune.config import TuneRunConfig

logger = logging.getLogger(__name__)

#: Modalities that post-fusion in ``all`` stacks, in this order.
FUSION_MODALITIES: tuple[str, ...] = (C.TABLE_CLINICAL, C.TABLE_RADIOMICS, C.TABLE_DEEP)


@dataclass
class TuneInputs:
    """Everything a sweep models, read once in the driver.

    Attributes:
        sets: Plain set name -> wide frame (patients x features, index
            ``patient_id``), for every requested plain set and fusion component.
        plain: Requested plain sets, in request order.
        fusion: Requested post-fusion sets -> component set names.
        y: 0/1 label of every modelled patient (index ``patient_id``, sorted).
        centers: Centre per modelled patient, or None when no table has one.
        cohort: One row per modelled patient: patient_id, center, cohort,
            label, split + clinical variables.
        train_ids, test_ids: Hold-out split (None when the hold-out is off).
        split_source: "manifest" (the tables' split column) or "random" (seeded 7:3).
        reader_ratings: Pivoted readers' rows for the ICC filter (None when not needed).
        table_versions: ``{table: version id}`` read.
        n_unlabelled: Patients excluded because no table gives them a label.
        empty_columns: Set -> feature columns dropped because no modelled patient
            has a value (e.g. PyRadiomics shape features that are NaN for 2-D masks).
    """

    sets: dict[str, pd.DataFrame]
    plain: list[str]
    fusion: dict[str, list[str]]
    y: pd.Series
    centers: pd.Series | None
    cohort: pd.DataFrame
    train_ids: list[str] | None = None
    test_ids: list[str] | None = None
    split_source: str | None = None
    reader_ratings: Any = None
    table_versions: dict[str, str] = field(default_factory=dict)
    n_unlabelled: int = 0
    empty_columns: dict[str, list[str]] = field(default_factory=dict)

    @property
    def feature_sets(self) -> list[str]:
        """Every evaluated set: plain ones, then post-fusion ones."""
        return list(self.plain) + list(self.fusion)


def tables_of(name: str) -> list[str]:
    """Store tables a set name reads (``clinical+combined`` -> clinical, radiomics, deep)."""
    return list(FeatureSetSpec.parse(name).tables)


def resolve_feature_sets(requested: tuple[str, ...] | list[str], available: list[str], *,
                         search: bool = False) -> tuple[list[str], dict[str, list[str]]]:
    """Expand ``all`` and check every name against the available tables.

    Args:
        requested: Names as given (``all``, plain names, ``post:a+b``).
        available: Feature tables present (store tables plus a given clinical file).
        search: A hyper-parameter search: ``all`` leaves out post-fusion and a
            named post-fusion set is refused (its stacked models are not tuned).

    Returns:
        ``(plain, fusion)``: requested plain sets, and ``{post name: components}``.

    Raises:
        ConfigError: Unknown name (with a suggestion), a post-fusion set with
            fewer than two components, or post-fusion with ``search``.
    """
    avail = set(available)
    options = [s for s in DEFAULT_FEATURE_SETS if set(tables_of(s)) <= avail]
    options += sorted(t for t in avail if t not in SET_TOKENS and t not in options)
    plain: list[str] = []
    fusion: dict[str, list[str]] = {}

    def check_plain(name: str, context: str) -> None:
        missing = [t for t in tables_of(name) if t not in avail]
        if missing:
            shown = ", ".join(options + ["all", "post:clinical+radiomics+deep"])
            raise ConfigError(
                f"{context}: feature set {name!r} needs table(s) {missing}, which the store does not "
                f"hold; expected one of {shown}.{did_you_mean(name, options)} Extract/embed/import "
                "the table first, or pass --clinical for the clinical set.")

    for name in requested:
        name = str(name).strip()
        if name == "all":
            plain += [s for s in options if s in DEFAULT_FEATURE_SETS]
            mods = [m for m in FUSION_MODALITIES if m in avail]
            if len(mods) >= 2 and not search:
                fusion[POST_PREFIX + TOKEN_SEP.join(mods)] = mods
        elif name.startswith(POST_PREFIX):
            if search:
                raise ConfigError(
                    f"--feature-sets: post-fusion set {name!r} cannot be combined with --search "
                    "random (its stacked SVM and base models are not tuned); expected plain sets "
                    "only. Drop the post-fusion set or run it in a separate sweep without --search.")
            try:
                parts = list(FeatureSetSpec.parse(name).members)
            except ConfigError as err:
                raise ConfigError(f"--feature-sets: {err}") from err
            for p in parts:
                check_plain(p, f"post-fusion set {name!r}")
            fusion[name] = parts
        else:
            check_plain(name, "--feature-sets")
            plain.append(name)
    plain = list(dict.fromkeys(plain))
    if not plain and not fusion:
        raise ConfigError("--feature-sets: no feature set to evaluate; expected e.g. 'radiomics' "
                          f"or 'all'. Available: {', '.join(options) or 'none'}.")
    return plain, fusion


def store_clinical(store: Any, path: str) -> str:
    """Read a clinical file and store it as a ``clinical`` version (idempotent); its version id."""
    from alnm_ray.manifest.table import read_table

    df = read_table(path, kind="clinical table")
    if C.COL_PATIENT not in df.columns:
        raise SchemaMismatchError(f"--clinical {path}: expected a {C.COL_PATIENT!r} column (one row "
                                  f"per patient); found {capped(list(df.columns))}. Rename the id "
                                  "column to patient_id.")
    if df[C.COL_PATIENT].duplicated().any():
        dup = sorted(df.loc[df[C.COL_PATIENT].duplicated(), C.COL_PATIENT].astype(str).unique())
        raise SchemaMismatchError(f"--clinical {path}: expected one row per patient; patient id(s) "
                                  f"{capped(dup)} repeat. De-duplicate the table.")
    for col in df.columns:  # pandas "string" dtype -> plain object/str for Parquet
        if pd.api.types.is_string_dtype(df[col]):
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    info = store.write_version(C.TABLE_CLINICAL, df.reset_index(drop=True),
                               lineage={"source": str(path)}, params={"imported_by": "alnm-ray tune"})
    logger.info("clinical table %s stored as %s", path, info.ref if hasattr(info, "ref") else info.version)
    return info.version


def _check_readers(long: pd.DataFrame, cfg_sel: Any, version: str) -> None:
    readers = sorted(long[C.COL_READER].astype(str).unique()) if C.COL_READER in long else []
    missing = [r for r in (C.PRIMARY_READER, *cfg_sel.icc_pairs) if r not in readers]
    if missing:
        raise ConfigError(
            f"radiomics@{version[:12]}: the ICC filter (icc_threshold={cfg_sel.icc_threshold}) needs "
            f"rows of readers {[C.PRIMARY_READER, *cfg_sel.icc_pairs]}; the table has readers "
            f"{readers} (missing {missing}). Extract the second reader's masks, or pass a --selection "
            "YAML with 'icc_threshold: null'.")


def load_inputs(store: Any, cfg: TuneRunConfig) -> TuneInputs:
    """Read, label and assemble everything a sweep models.

    Args:
        store: A :class:`~alnm_ray.store.FeatureStore` or its path/URI.
        cfg: The sweep configuration.

    Returns:
        :class:`TuneInputs`.

    Raises:
        StoreError: Empty store, unknown table or pinned version.
        ConfigError: Unknown feature set, one class only, too few patients for the folds.
        SchemaMismatchError: No labels, disagreeing labels, patients differing between sets.
    """
    from alnm_ray.model.splits import holdout_split
    from alnm_ray.store import FeatureStore

    store = store if isinstance(store, FeatureStore) else FeatureStore(str(store))
    present = store.feature_tables() if store.exists() else []
    if not present and cfg.clinical is None:
        raise StoreError(
            f"store {store.uri}: expected feature tables (radiomics, deep, clinical or an imported "
            f"one); found {'no tables' if store.exists() else 'no store at that path'}. Run "
            "`alnm-ray extract` / `embed` / `features import` first, or check --store.")
    available = sorted(set(present) | ({C.TABLE_CLINICAL} if cfg.clinical else set()))
    plain, fusion = resolve_feature_sets(cfg.feature_sets, available, search=cfg.search == "random")
    needed = list(dict.fromkeys(plain + [p for parts in fusion.values() for p in parts]))
    tables = tables_needed(needed)
    pins = dict(cfg.tables)
    if C.TABLE_CLINICAL in tables and cfg.clinical:
        pins[C.TABLE_CLINICAL] = store_clinical(store, cfg.clinical)
    unused = sorted(set(pins) - set(tables))
    if unused:
        logger.warning("pinned table(s) %s are not read by the requested feature sets", unused)
    data = read_cohort(store, needed, pins=pins, cohorts=cfg.cohorts, reader=cfg.reader)
    wides, versions = data.tables, data.pins
    label = data.require_labels()
    built = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)  # announced below with the count
        for name in needed:
            built[name] = data.feature_set(name, join=cfg.join)
    cfg_sel = cfg.selection_config()
    icc = cfg_sel.icc_threshold is not None and any(KIND_RADIOMICS in kinds_of(X.columns) for X in built.values())
    _release_read_tables(data, keep_readers=icc)
    union = sorted(set().union(*[set(X.index) for X in built.values()]))
    common = sorted(set.intersection(*[set(X.index) for X in built.values()]))
    if len(common) < len(union):
        if cfg.join == "strict":
            sizes = {n: len(X) for n, X in built.items()}
            raise SchemaMismatchError(
                f"feature sets: patients differ between sets ({sizes}); {len(union) - len(common)} "
                f"patient(s) are missing from some set ({capped(sorted(set(union) - set(common)))}). "
                "Extract the missing cases, or pass --join inner to model the common patients.")
        warnings.warn(f"--join inner: {len(union) - len(common)} patient(s) missing from some "
                      "feature set were dropped", FallbackWarning, stacklevel=2)
    has_label = label.reindex(common).notna()
    n_unlabelled = int((~has_label).sum())
    patients = pd.Index([p for p, ok in zip(common, has_label) if ok], name=C.COL_PATIENT)
    if n_unlabelled:
        logger.warning("%d patient(s) without a label excluded", n_unlabelled)
    y = label.loc[patients].astype(int).rename(C.COL_LABEL)
    counts = y.value_counts()
    if len(counts) < 2:
        raise ConfigError(
            f"labels: expected both classes (0 and 1) among the {len(y)} labelled patient(s); found "
            f"only {sorted(counts.index.tolist())}. A classifier needs ALNM+ and ALNM- patients.")
    centers = None if data.centers is None else data.centers.reindex(patients)
    centers = None if centers is None or centers.isna().all() else centers.fillna("unknown").astype(str)
    split = None if data.splits is None else data.splits.reindex(patients)
    train_ids: list[str] | None = None
    test_ids: list[str] | None = None
    source: str | None = None
    if cfg.holdout:
        values = set() if split is None else {str(v) for v in split.dropna()}
        if split is not None and {"train", "test"} <= values:
            train_ids = [p for p in patients if split[p] == "train"]
            test_ids = [p for p in patients if split[p] == "test"]
            source = "manifest"
        else:
            tr, te = holdout_split(y.to_numpy(), cfg.test_size, cfg.seed)
            train_ids, test_ids = list(patients[tr]), list(patients[te])
            source = "random"
        for name, ids in (("training", train_ids), ("test", test_ids)):
            if y.loc[ids].nunique() < 2:
                raise ConfigError(f"hold-out: the {name} split ({len(ids)} patients) holds one class "
                                  "only; expected both. Fix the manifest's split column, or pass "
                                  "--no-holdout.")
    cv_ids = train_ids if train_ids is not None and cfg.cv_on == "train" else list(patients)
    minority = int(y.loc[cv_ids].value_counts().min())
    if minority < cfg.folds:
        raise ConfigError(f"--folds: expected at most {minority} folds (patients of the smaller class "
                          f"among the {len(cv_ids)} CV patients); got {cfg.folds}. Lower --folds.")
    cohort = pd.DataFrame(index=patients)
    cohort[C.COL_CENTER] = centers if centers is not None else None
    cohort[C.COL_COHORT] = None if data.cohort_names is None else data.cohort_names.reindex(patients)
    cohort[C.COL_LABEL] = y
    if train_ids is not None and test_ids is not None:
        in_train, in_test = set(train_ids), set(test_ids)
        cohort[C.COL_SPLIT] = ["train" if p in in_train else "test" if p in in_test else None
                               for p in patients]
    else:
        cohort[C.COL_SPLIT] = split
    if C.TABLE_CLINICAL in wides:
        clin = wides[C.TABLE_CLINICAL]
        for col in feature_columns(clin):
            cohort[col] = clin[col].reindex(patients)
    ratings = None
    if icc:
        if data.reader_table is None:
            raise ConfigError("ICC filter: radiomics-named columns come from a table other than "
                              "'radiomics', so no readers' rows exist; pass a --selection YAML with "
                              "'icc_threshold: null', or model the radiomics table.")
        from alnm_ray.select.icc import ReaderRatings

        _check_readers(data.reader_table, cfg_sel, versions[C.TABLE_RADIOMICS])
        ratings = ReaderRatings(data.reader_table)
    sets, empty = {}, {}
    for name, X in built.items():
        dropped = [str(c) for c in X.attrs.get("dropped_empty", [])]  # by assemble_feature_set
        rows = X if _same_index(X.index, patients) else X.loc[patients]  # no copy when every row is modelled
        X, cols = drop_empty_columns(rows, name)  # e.g. once unlabelled patients are out
        if dropped or cols:
            empty[name] = dropped + cols
        if X.shape[1] == 0:
            raise SchemaMismatchError(f"feature set {name!r}: every feature column is empty for the "
                                      f"{len(patients)} modelled patients; expected values. Check the "
                                      "extraction's error rows (`alnm-ray sql \"SELECT * FROM errors\"`).")
        sets[name] = X
    return TuneInputs(
        sets=sets, plain=plain, fusion=fusion, y=y,
        centers=centers, cohort=cohort.reset_index(), train_ids=train_ids, test_ids=test_ids,
        split_source=source, reader_ratings=ratings, table_versions=versions,
        n_unlabelled=n_unlabelled, empty_columns=empty)


def _release_read_tables(data: Any, *, keep_readers: bool) -> None:
    """Drop the cohort's frames once the feature sets are built (each set is a copy).

    What :func:`load_inputs` still reads is kept: the clinical table (its
    columns go into the cohort table) and, for the ICC filter, the radiomics
    rows of every reader.  Without this the driver held every table twice
    (as read and as sets) until the inputs were returned.
    """
    for table in [t for t in data.tables if t != C.TABLE_CLINICAL]:
        del data.tables[table]
    for table in [t for t in data.longs if not (keep_readers and t == C.TABLE_RADIOMICS)]:
        del data.longs[table]


def _same_index(index: pd.Index, patients: pd.Index) -> bool:
    """Whether ``X.loc[patients]`` would be ``X`` itself (same labels, order, dtype and name)."""
    return index.equals(patients) and index.dtype == patients.dtype and index.name == patients.name


def cv_patients(inputs: TuneInputs, cfg: TuneRunConfig) -> list[str]:
    """The patients of the repeated CV (hold-out training patients, or everyone)."""
    if cfg.holdout and cfg.cv_on == "train" and inputs.train_ids is not None:
        return list(inputs.train_ids)
    return list(inputs.y.index)

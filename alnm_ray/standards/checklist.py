"""CLEAR and TRIPOD+AI checklists, filled from a run's own metadata.

Every item of CLEAR (58) and TRIPOD+AI is listed (titles paraphrased, shipped as
``data/clear_items.csv`` and ``data/tripod_ai_items.csv``).  Items the run can answer --
cohort sizes and centres, readers, preprocessing, software versions, feature
standardisation, selection steps, validation design, metrics with CIs, calibration,
code and settings -- are filled from ``run.json``, ``cohort.csv``, ``selection/*.json``,
``holdout_metrics.json`` and the store versions the run read; the others are marked
"for the authors".  Written as ``checklist.md`` and ``checklist.json`` in the run folder.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from alnm_ray.standards.mapping import read_data_csv
from alnm_ray.typing import PathLike

logger = logging.getLogger(__name__)

MARKDOWN = "checklist.md"
JSON = "checklist.json"
FROM_RUN = "from the run"
PARTLY = "partly from the run; authors complete"
AUTHORS = "for the authors"
#: CLEAR items that need the authors even when the run says something.
_PARTIAL: dict[str, set[Any]] = {"CLEAR": {7, 13, 15, 16, 19, 20, 21, 25, 29, 31, 55, 56}, "TRIPOD+AI": {"5a", "6a", "7", "9a", "10",
                                                                                   "11", "12c", "18f", "20a"}}


class RunFacts:
    """What a run folder and the store versions it read say, read once."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.run: dict[str, Any] = _json(run_dir / "run.json") or {}
        self.cohort = pd.read_csv(run_dir / "cohort.csv") if (run_dir / "cohort.csv").is_file() else None
        sel = run_dir / "selection"
        self.selection = {p.stem: _json(p) or {} for p in sorted(sel.glob("*.json"))} if sel.is_dir() else {}
        self.holdout = _json(run_dir / "holdout_metrics.json")
        self.versions: dict[str, Any] = {}
        self.dictionary: pd.DataFrame | None = None
        self.store_note = ""
        self._read_store()

    def _read_store(self) -> None:
        uri = self.run.get("store")
        if not uri:
            self.store_note = "run.json names no store"
            return
        try:
            from alnm_ray.store import FeatureStore

            store = FeatureStore(uri)
            if not store.exists():
                self.store_note = f"store {uri} not found"
                return
            for table, version in (self.run.get("tables") or {}).items():
                try:
                    self.versions[table] = store.resolve(f"{table}@{version}")
                except Exception as err:  # noqa: BLE001 - a missing version leaves its items to the authors
                    logger.info("checklist: %s@%s unreadable: %s", table, version, err)
            if store.latest("feature_dictionary") is not None:
                self.dictionary = store.read("feature_dictionary").to_pandas()
        except Exception as err:  # noqa: BLE001 - the checklist never blocks a report
            self.store_note = f"store {uri} unreadable ({type(err).__name__}: {err})"

    def params(self, table: str) -> dict[str, Any]:
        info = self.versions.get(table)
        return dict(info.params or {}) if info is not None else {}


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, json.JSONDecodeError):
        return None


def _fmt(items: dict[str, Any]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in items.items() if v not in (None, "", [], {}))


# --- facts, one function per topic ------------------------------------------------
def cohort(f: RunFacts) -> str | None:
    c = f.cohort
    if c is None:
        return f"{f.run.get('patients')} patients" if f.run.get("patients") else None
    parts: dict[str, Any] = {"patients": len(c)}
    if "label" in c:
        parts["ALNM+"] = f"{int(c['label'].sum())} ({c['label'].mean():.1%})"
    if "center" in c:
        parts["centres"] = ", ".join(f"{k} (n={v})" for k, v in c["center"].value_counts().sort_index().items())
    if "cohort" in c:
        parts["cohorts"] = ", ".join(sorted(map(str, c["cohort"].unique())))
    if f.run.get("excluded_unlabelled"):
        parts["excluded (no label)"] = f.run["excluded_unlabelled"]
    return _fmt(parts)


def split(f: RunFacts) -> str | None:
    r = f.run
    if not r:
        return None
    hold = r.get("holdout") or {}
    ext = list((r.get("external") or {}).get("centers") or [])
    parts = {"cross-validation": f"{r.get('repeats')} x {r.get('folds')}-fold stratified, patient-wise, seed "
                                 f"{r.get('seed')}, on {r.get('cv_on', 'train')} patients",
             "hold-out": (f"{hold.get('source')} split, test size {hold.get('test_size')}, "
                          f"{len(hold.get('train_patients') or [])} train / {len(hold.get('test_patients') or [])} "
                          "test patients") if hold else None,
             "external": f"leave-one-centre-out over {', '.join(map(str, ext))}" if ext else None,
             "leakage": "every learned step (SMOTE, scaling, selection) is refitted inside each training fold"}
    return _fmt(parts)


def readers(f: RunFacts) -> str | None:
    info = f.versions.get("radiomics")
    if info is None:
        return None
    return (f"radiomics version {info.version[:12]}: {info.cases} cases; readers A (primary), B and A2 (repeat) "
            f"feed the ICC filter where present; modelling uses reader {f.run.get('reader', 'A')}")


def preprocessing(f: RunFacts) -> str | None:
    p = f.params("radiomics")
    plan = p.get("preprocess")
    if not plan:
        return None
    default = plan.get("default") or {}
    seqs = plan.get("sequences") or {}
    parts = {"plan": plan.get("name"),
             "default": _fmt({k: default.get(k) for k in ("n4", "normalize", "spacing", "interpolator", "crop")}),
             **{s: _fmt({k: c.get(k) for k in ("n4", "normalize", "spacing", "interpolator")}) for s, c in
                sorted(seqs.items())}}
    return _fmt(parts)


def resampling(f: RunFacts) -> str | None:
    plan = f.params("radiomics").get("preprocess") or {}
    if not plan:
        return None
    spacings = {s: (c.get("spacing"), c.get("interpolator")) for s, c in (plan.get("sequences") or {}).items()}
    d = plan.get("default") or {}
    return _fmt({"default": f"spacing {d.get('spacing') or 'native'}, {d.get('interpolator')}",
                 **{s: f"spacing {v[0] or 'native'} mm, {v[1]}" for s, v in sorted(spacings.items())},
                 "masks": "nearest neighbour"})


def pyrad_settings(f: RunFacts) -> dict[str, Any]:
    return dict((f.params("radiomics").get("pyradiomics_params") or {}).get("setting") or {})


def discretisation(f: RunFacts) -> str | None:
    s = pyrad_settings(f)
    if not f.params("radiomics"):
        return None
    if s.get("binCount"):
        return f"fixed bin number {s['binCount']} (IBSI FBN)"
    return (f"fixed bin width {s.get('binWidth', 25)} (PyRadiomics: first bin edge at a multiple of the width "
            "from 0, not at the ROI minimum)")


def image_types(f: RunFacts) -> str | None:
    p = f.params("radiomics").get("pyradiomics_params") or {}
    if not p:
        return None
    types = p.get("imageType") or {"Original": {}}
    return ", ".join(f"{k} {json.dumps(v)}" if v else k for k, v in types.items())


def versions(f: RunFacts) -> str | None:
    libs = dict(f.params("radiomics").get("library_versions") or {})
    libs.update((f.run.get("versions") or {}).get("python_packages") or {})
    from alnm_ray._version import __version__

    return _fmt({"alnm-ray": __version__, **libs})


def extraction(f: RunFacts) -> str | None:
    parts = []
    if f.params("radiomics"):
        parts.append(f"PyRadiomics {(f.params('radiomics').get('library_versions') or {}).get('pyradiomics', '')}"
                     f" via alnm-ray; IBSI-1 conformance checked on the IBSI digital phantom (`alnm-ray ibsi "
                     "check`): every mapped feature matches or differs by a documented convention; per-feature "
                     "status in the store's feature_dictionary table")
    if f.params("deep"):
        parts.append("deep features: 3-D ResNet-18 (MONAI), 512-channel global average pool; weights "
                     f"{f.params('deep').get('weights') or 'random (seeded)'}")
    return "; ".join(parts) or None


def feature_counts(f: RunFacts, by: str) -> str | None:
    d = f.dictionary
    if d is None or d.empty:
        return None
    d = d[d["table"].isin(list(f.versions))] if f.versions else d
    if by == "class":
        counts = d.groupby(["table", "feature_class"]).size()
        return "; ".join(f"{t}/{c}: {n}" for (t, c), n in counts.items())
    counts = d.groupby(["table", "sequence"]).size()
    return f"{len(d)} in all; " + "; ".join(f"{t}/{s or '-'}: {n}" for (t, s), n in counts.items())


def conformance_summary(f: RunFacts) -> str | None:
    d = f.dictionary
    if d is None or d.empty:
        return None
    status = d["conformance"].str.split(" \\(|;", regex=True).str[0]
    return "; ".join(f"{k}: {v}" for k, v in status.value_counts().items())


def missing(f: RunFacts) -> str | None:
    policy = f.params("radiomics").get("missing_values")
    dropped = {k: len(v) for k, v in (f.run.get("dropped_empty_columns") or {}).items()}
    return _fmt({"policy": policy, "columns empty for every patient dropped": dropped,
                 "patients without a label excluded": f.run.get("excluded_unlabelled")}) or None


def selection_steps(f: RunFacts) -> str | None:
    if not f.selection:
        return None
    return "; ".join(f"{fs}: " + " -> ".join(f"{s.get('step')} {s.get('n')}" for s in rec.get("steps", []))
                     for fs, rec in f.selection.items()) + " (features left after each step, hold-out training set)"


def has_step(f: RunFacts, *names: str) -> bool:
    return any(s.get("step") in names for rec in f.selection.values() for s in rec.get("steps", []))


def imbalance(f: RunFacts) -> str | None:
    prev = f"ALNM+ {f.cohort['label'].mean():.1%}" if f.cohort is not None and "label" in f.cohort else None
    smote = "SMOTE inside each training fold" if has_step(f, "smote") or f.run.get("preset") == "guo2024" else None
    return _fmt({"prevalence": prev, "handling": smote}) or None


def reliability(f: RunFacts) -> str | None:
    if has_step(f, "icc") or f.run.get("preset") == "guo2024":
        return "ICC filter on readers A, B and A2 (training folds only); thresholds in the selection config"
    return None


def models(f: RunFacts) -> str | None:
    r = f.run
    if not r.get("classifiers"):
        return None
    return _fmt({"classifiers": ", ".join(r["classifiers"]), "feature sets": ", ".join(r.get("feature_sets", [])),
                 "post-fusion": ", ".join(r.get("fusion") or {})})


def tuning(f: RunFacts) -> str | None:
    s = f.run.get("search")
    if s:
        return (f"random search, {s.get('samples')} candidates, nested {s.get('inner_folds')}-fold inner CV "
                "ranked by AUC")
    return "fixed hyper-parameters of the preset (no search)" if f.run else None


def metrics(f: RunFacts) -> str | None:
    if not f.run:
        return None
    return ("AUC (DeLong 95% CI), accuracy, sensitivity, specificity, PPV, NPV, F1 with bootstrap 95% CIs at the "
            "training-set Youden threshold; Brier score and Hosmer-Lemeshow calibration; decision curves")


def holdout_results(f: RunFacts) -> str | None:
    ev = (f.holdout or {}).get("evaluation") or {}
    parts = []
    for fs, res in ev.items():
        for name, m in (res.get("models") or {}).items():
            ci = m.get("auc_ci_delong") or [None, None]
            if m.get("auc") is not None and None not in ci:
                parts.append(f"{fs}/{name} AUC {m['auc']:.3f} ({ci[0]:.3f}-{ci[1]:.3f})")
    return ("hold-out test set: " + "; ".join(parts[:12]) + (" …" if len(parts) > 12 else "")) if parts else None


def calibration(f: RunFacts) -> str | None:
    ev = (f.holdout or {}).get("evaluation") or {}
    parts = [f"{fs}/{name} Brier {m['brier']:.3f}" for fs, res in ev.items()
             for name, m in (res.get("models") or {}).items() if m.get("brier") is not None]
    return ("; ".join(parts[:8]) + "; calibration curves and Hosmer-Lemeshow in the report") if parts else None


def comparison(f: RunFacts) -> str | None:
    sets = f.run.get("feature_sets") or []
    if not sets:
        return None
    return (f"feature sets {', '.join(sets)} compared (DeLong, NRI, IDI in the report)"
            if len(sets) > 1 else f"one feature set ({sets[0]})")


def centres(f: RunFacts) -> str | None:
    ext = f.run.get("external") or {}
    return f"leave-one-centre-out over {', '.join(map(str, ext['centers']))}" if ext.get("centers") else None


def code(f: RunFacts) -> str | None:
    from alnm_ray._version import __version__

    return (f"alnm-ray {__version__}; run settings in {f.run_dir.name}/run.json, PyRadiomics params and "
            "preprocessing plan recorded with each store version")


def baseline(f: RunFacts) -> str | None:
    return "baseline table by ALNM status and by split in the report" if f.cohort is not None else None


def standardisation(f: RunFacts) -> str | None:
    return "z-score fitted on each training fold and applied to its test fold" if f.run else None


#: item -> how to answer it, per checklist.
ANSWERS: dict[str, dict[str, Callable[[RunFacts], str | None]]] = {
    "CLEAR": {
        "7": lambda f: "CLEAR and TRIPOD+AI items filled from the run by alnm-ray (this file)",
        "9": cohort, "13": cohort, "15": split, "16": preprocessing, "19": readers, "20": readers,
        "21": lambda f: _fmt({"steps": preprocessing(f), "software": versions(f)}) or None,
        "22": resampling, "23": discretisation, "24": image_types,
        "25": lambda f: _fmt({"method": extraction(f), "IBSI status": conformance_summary(f)}) or None,
        "26": lambda f: feature_counts(f, "class"), "27": lambda f: feature_counts(f, "sequence"),
        "28": lambda f: ("every PyRadiomics setting not in the recorded params file is PyRadiomics's default"
                         if f.params("radiomics") else None),
        "29": missing, "30": imbalance, "31": reliability, "32": standardisation, "33": selection_steps,
        "34": lambda f: _fmt({"models": models(f), "software": versions(f)}) or None, "35": tuning,
        "37": lambda f: "best mean CV AUC per feature set" if f.run else None, "38": split, "39": metrics,
        "40": metrics, "41": lambda f: "DeLong test, NRI and IDI between the best model of each feature set"
        if f.run else None, "42": comparison, "44": baseline, "46": selection_steps, "47": holdout_results,
        "48": comparison, "55": code, "56": code,
    },
    "TRIPOD+AI": {
        "5a": cohort, "6a": cohort, "7": preprocessing, "9a": lambda f: _fmt({"feature sets": comparison(f),
                                                                             "selection": selection_steps(f)}) or None,
        "9b": lambda f: _fmt({"extraction": extraction(f), "IBSI status": conformance_summary(f)}) or None,
        "10": cohort, "11": missing, "12a": split, "12b": standardisation,
        "12c": lambda f: _fmt({"models": models(f), "tuning": tuning(f), "internal validation": split(f)}) or None,
        "12d": centres, "12e": metrics, "13": imbalance,
        "15": lambda f: "predicted probability of ALNM; class at the training-set Youden threshold" if f.run else None,
        "18f": code, "20a": cohort, "21": cohort, "23a": holdout_results, "23b": centres,
    },
}


def fill_checklist(name: str, facts: RunFacts) -> list[dict[str, str]]:
    """Every item of ``name`` (``CLEAR`` or ``TRIPOD+AI``) with its status and answer."""
    source = {"CLEAR": "clear_items.csv", "TRIPOD+AI": "tripod_ai_items.csv"}[name]
    out = []
    for row in read_data_csv(source):
        fn = ANSWERS[name].get(row["item"])
        answer = None
        if fn is not None:
            try:
                answer = fn(facts)
            except (KeyError, TypeError, ValueError, AttributeError) as err:  # incomplete metadata: authors fill it
                logger.info("checklist %s item %s: %s", name, row["item"], err)
        partial = row["item"] in {str(i) for i in _PARTIAL[name]}
        status = AUTHORS if not answer else (PARTLY if partial else FROM_RUN)
        out.append({"item": row["item"], "section": row["section"], "title": row["title"], "status": status,
                    "answer": answer or ""})
    return out


def _markdown(lists: dict[str, list[dict[str, str]]], facts: RunFacts) -> str:
    lines = [f"# Reporting checklists — run {facts.run_dir.name}", "",
             "Filled by alnm-ray from the run's own metadata (run.json, cohort.csv, selection records, hold-out "
             "metrics, the store versions it read). Items marked *for the authors* need information only the "
             "authors have; *partly from the run* items need the authors' completion.",
             "CLEAR: Kocak et al., Insights Imaging 2023;14:75. TRIPOD+AI: Collins et al., BMJ 2024;385:e078378. "
             "Item titles are paraphrased; use the published checklists for the full item texts.", ""]
    if facts.store_note:
        lines += [f"Note: {facts.store_note}; store-derived items are left to the authors.", ""]
    for name, items in lists.items():
        done = sum(i["status"] != AUTHORS for i in items)
        lines += [f"## {name} ({done} of {len(items)} items answered at least in part)", "",
                  "| item | section | topic | status | from the run |", "|---|---|---|---|---|"]
        for i in items:
            answer = i["answer"].replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {i['item']} | {i['section']} | {i['title']} | {i['status']} | {answer} |")
        lines.append("")
    return "\n".join(lines)


def write_checklists(run_dir: PathLike) -> dict[str, Path]:
    """Write ``checklist.md`` and ``checklist.json`` into a tune run folder.

    Args:
        run_dir: Folder written by ``alnm-ray tune`` (``run.json`` at least).

    Returns:
        ``{"markdown": path, "json": path}``.
    """
    run = Path(run_dir)
    facts = RunFacts(run)
    lists: dict[str, list[dict[str, str]]] = {name: fill_checklist(name, facts) for name in ANSWERS}
    md, js = run / MARKDOWN, run / JSON
    md.write_text(_markdown(lists, facts), encoding="utf-8")
    js.write_text(json.dumps({"run": run.name, "store_note": facts.store_note, "checklists": lists}, indent=1),
                  encoding="utf-8")
    logger.info("checklists written to %s", md)
    return {"markdown": md, "json": js}


def finish_run(store: Any, run_dir: PathLike) -> dict[str, Path]:
    """End of ``alnm-ray tune``: refresh the feature dictionary (the clinical table is new) and write the checklists.

    Args:
        store: The run's :class:`~alnm_ray.store.FeatureStore` or URI.
        run_dir: The run folder.
    """
    from alnm_ray.standards.dictionary import write_feature_dictionary

    write_feature_dictionary(store)
    return write_checklists(run_dir)

"""``alnm-ray tune``: repeated-CV sweeps, hold-out and per-centre validation on Ray Tune.

One Tune trial per coarse unit (a group of feature sets x a chunk of repeats
or of one repeat's folds, the hold-out split, or one held-out centre); each fold's selection is fitted
once and shared by every classifier; finished units are saved so an
interrupted sweep resumes; results land in the run folder and in the store's
``cv_results`` / ``oof_predictions`` tables.
"""

from alnm_ray.tune.config import CV_ON, SEARCHES, TuneRunConfig
from alnm_ray.tune.inputs import TuneInputs, load_inputs, resolve_feature_sets
from alnm_ray.tune.outputs import format_summary, summarize
from alnm_ray.tune.search import sample_candidates
from alnm_ray.tune.sweep import SweepError, SweepResult, run_sweep
from alnm_ray.tune.units import Unit, plan_units, set_groups

__all__ = [
    "CV_ON",
    "SEARCHES",
    "SweepError",
    "SweepResult",
    "TuneInputs",
    "TuneRunConfig",
    "Unit",
    "format_summary",
    "load_inputs",
    "plan_units",
    "resolve_feature_sets",
    "run_sweep",
    "sample_candidates",
    "set_groups",
    "summarize",
]

"""The HTML report of a tune run."""

from alnm_ray.report.baseline import baseline_table
from alnm_ray.report.build import RunFolderError, build_report, cv_summary

__all__ = ["RunFolderError", "baseline_table", "build_report", "cv_summary"]

"""Logs above DEBUG carry no image paths or patient identifiers unless asked."""

from __future__ import annotations

import logging

from alnm_ray.cli._logging import configure_logging
from alnm_ray.cli._redact import redact, register_identifiers


def test_redact_paths_and_identifiers() -> None:
    register_identifiers(["PX-0042"])
    text = redact("case PX-0042 failed: cannot read /data/siteA/PX-0042/T2WI.nii.gz (3 of 40)")
    assert text == "case <patient> failed: cannot read <path> (3 of 40)"
    assert redact("PX-00421 is another id") == "PX-00421 is another id"


def test_console_redacts_info_but_not_when_asked(capsys) -> None:
    register_identifiers(["PX-0042"])
    log = logging.getLogger("alnm_ray.test")
    configure_logging("INFO")
    log.info("reading %s for %s", "/data/a/PX-0042/img.nii.gz", "PX-0042")
    configure_logging("INFO", identifiers=True)
    log.info("reading %s for %s", "/data/a/PX-0042/img.nii.gz", "PX-0042")
    err = capsys.readouterr().err.splitlines()
    assert err[-2] == "INFO reading <path> for <patient>"
    assert err[-1] == "INFO reading /data/a/PX-0042/img.nii.gz for PX-0042"

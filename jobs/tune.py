"""``ray job submit`` entrypoint for ``alnm-ray tune``.

Repeated-CV sweep over classifiers x feature sets -> `cv_results` / `oof_predictions` in the store.

Usage::

    ray job submit --working-dir . -- python jobs/tune.py jobs/examples/tune.yaml
    python jobs/tune.py SPEC.yaml            # same thing on an embedded local Ray
    python jobs/tune.py --check SPEC.yaml    # validate, print the equivalent command

The spec is validated against ``schemas/jobspec.schema.json``, then run
through the same CLI command a user types (see ``jobs/_cli.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cli import run_job  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_job("tune"))

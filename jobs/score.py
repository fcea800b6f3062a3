"""``ray job submit`` entrypoint for ``alnm-ray score``.

Batch scoring: a frozen model bundle labels a new cohort -> `predictions` in the store.

Usage::

    ray job submit --working-dir . -- python jobs/score.py jobs/examples/score.yaml
    python jobs/score.py SPEC.yaml            # same thing on an embedded local Ray
    python jobs/score.py --check SPEC.yaml    # validate, print the equivalent command

The spec is validated against ``schemas/jobspec.schema.json``, then run
through the same CLI command a user types (see ``jobs/_cli.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cli import run_job  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_job("score"))

"""Type aliases shared across the package."""

from __future__ import annotations

import os
from typing import Union

#: A filesystem path given as a string or a path object.
PathLike = Union[str, "os.PathLike[str]"]

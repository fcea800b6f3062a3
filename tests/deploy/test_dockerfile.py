"""deploy/Dockerfile follows the Makefile's `setup` recipe and copies files that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    current = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current = f"{current} {line[:-1] if line.endswith(chr(92)) else line}".strip()
        if not line.endswith("\\"):
            word, _, rest = current.partition(" ")
            out.append((word.upper(), rest))
            current = ""
    return out


def makefile_setup() -> tuple[str, list[str]]:
    """The Makefile's numpy pin and the package specs its `setup` recipe installs."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    numpy = re.search(r"^NUMPY\s*:=\s*(\S+)", text, re.M).group(1)
    recipe = text.split("$(STAMP):", 1)[1].split("\n\n", 1)[0]
    specs: list[str] = []
    for line in recipe.splitlines():
        if "$(PIP) install" in line:
            words = shlex.split(line.split("$(PIP) install", 1)[1].replace('"$(NUMPY)"', numpy))
            specs += [w for w in words if re.match(r"^[A-Za-z][\w.-]*(==[\w.+]+)?$", w)
                      and not w.startswith("-") and w != "requirements/constraints.txt"]
    return numpy, specs


def test_base_image_and_user():
    steps = instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    assert ("USER", "ray") in steps


def test_installs_what_make_setup_installs_with_the_same_pins():
    numpy, specs = makefile_setup()
    assert specs, "could not read the Makefile's setup recipe"
    runs = " ".join(args for word, args in instructions() if word == "RUN")
    args = dict(a.split("=", 1) for w, a in instructions() if w == "ARG" and "=" in a)
    assert args["NUMPY"] == numpy
    for spec in specs:
        if spec == numpy:
            assert '"$NUMPY"' in runs
        else:
            assert spec in runs or f'"{spec}"' in runs, f"Dockerfile does not install {spec}"
    assert "--no-build-isolation -c /tmp/constraints.txt pyradiomics==" in runs
    # Every pip install is constrained by the repository's pins.
    for command in re.split(r"&&|;", runs):
        if "pip install" in command and "--upgrade pip" not in command and "$NUMPY" not in command:
            assert "-c /tmp/constraints.txt" in command, command


def test_copied_paths_exist():
    for word, args in instructions():
        if word == "COPY":
            *sources, _dest = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def test_ray_version_matches_the_pinned_one():
    pins = dict(line.strip().split("==", 1) for line in
                (ROOT / "requirements" / "constraints.txt").read_text(encoding="utf-8").splitlines()
                if "==" in line and not line.startswith("#"))
    args = dict(a.split("=", 1) for w, a in instructions() if w == "ARG" and "=" in a)
    assert args["RAY_VERSION"] == pins["ray"]

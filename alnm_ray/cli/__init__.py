"""The ``alnm-ray`` command line: a thin click layer over the Python API."""

__all__ = ["cli"]


def __getattr__(name: str):  # lazy, so `import alnm_ray.cli` stays cheap
    if name == "cli":
        from alnm_ray.cli.main import cli

        return cli
    raise AttributeError(name)

"""State the group passes to every subcommand."""

from __future__ import annotations

from dataclasses import dataclass

import click


@dataclass
class CliContext:
    """Global options of the ``alnm-ray`` group."""

    address: str | None = None
    num_cpus: int | None = None
    quiet: bool = False
    debug: bool = False

    def ray_config(self):  # -> alnm_ray.runtime.RayConfig (imported lazily)
        """The :class:`~alnm_ray.runtime.RayConfig` these options describe."""
        from alnm_ray.runtime import RayConfig

        return RayConfig(address=self.address, num_cpus=self.num_cpus, quiet=self.quiet)


#: Decorator giving a command the :class:`CliContext`.
pass_cli = click.make_pass_decorator(CliContext, ensure=True)

"""``alnm-ray synth``: write a synthetic multicentre cohort (images, masks, tables)."""

from __future__ import annotations

from pathlib import Path

import click

from alnm_ray.cli._context import CliContext, pass_cli

#: Above this many patients ``--parallel auto`` uses Ray.  Measured on 2 cores:
#: an embedded Ray costs ~10-30 s to start, and 2 workers halve ~0.3 s/patient
#: (small size), so Ray pays off only beyond roughly 60-100 small patients;
#: with a running cluster (``--address``) Ray is always used.
RAY_MIN_PATIENTS = 80


@click.command("synth")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--patients", type=int, default=None,
              help="Number of patients. [default: 40 with --size small, 270 with --size paper]")
@click.option("--centers", type=int, default=2, show_default=True, help="Number of centres (scanner sites).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed; the same seed writes byte-identical files.")
@click.option("--signal", type=float, default=1.0, show_default=True,
              help="Image-label signal: 1 gives an oracle AUC ~0.82; 0 makes labels independent of "
                   "images and clinical data (leakage checks).")
@click.option("--size", type=click.Choice(["small", "paper"]), default="small", show_default=True,
              help="small: ~48x48x16 MRI, 128x128 MG (fast); paper: ~96x96x32 MRI, 256x256 MG.")
@click.option("--repeat-readers", type=int, default=30, show_default=True,
              help="Patients also outlined by reader B and again by reader A (A2), for the ICC filter.")
@click.option("--prevalence", type=float, default=0.433, show_default=True,
              help="Expected ALNM prevalence (Guo 2024: 117/270).")
@click.option("--cohort", "cohort_name", default="synth", show_default=True,
              help="Cohort name written to every manifest row.")
@click.option("--parallel", type=click.Choice(["auto", "serial", "ray"]), default="auto", show_default=True,
              help=f"auto: Ray when --address is given or above {RAY_MIN_PATIENTS} patients, else serial. "
                   "The files are identical either way.")
@click.option("--overwrite", is_flag=True, help="Replace a synthetic cohort previously written to OUT.")
@pass_cli
def synth(cli: CliContext, out: Path, patients: int | None, centers: int, seed: int, signal: float,
          size: str, repeat_readers: int, prevalence: float, cohort_name: str, parallel: str,
          overwrite: bool) -> None:
    """Write a synthetic multicentre ALNM cohort to OUT.

    Per patient: MG_CC and MG_MLO (2-D), T2WI, DWI, ADC and DCE_P2 (3-D) as
    compressed NIfTI; reader A masks for everyone, reader B and A2 masks for
    a random subset; manifest.csv, clinical.csv, truth.csv and cohort.json
    (counts, prevalence, oracle AUC, centres).

    Example: alnm-ray synth cohort/ --patients 20 --centers 2 --seed 7
    """
    import os

    from alnm_ray.constants import ENV_RAY_ADDRESS
    from alnm_ray.synth import SynthConfig, generate_cohort

    config = SynthConfig(patients=patients, centers=centers, seed=seed, signal=signal, size=size,
                         n_repeat_readers=repeat_readers, prevalence=prevalence, cohort=cohort_name)
    if parallel == "auto":
        remote = bool(cli.address or os.environ.get(ENV_RAY_ADDRESS))
        parallel = "ray" if remote or int(config.patients) > RAY_MIN_PATIENTS else "serial"  # type: ignore[arg-type]
    if parallel == "ray":
        from alnm_ray.runtime import ray_session

        with ray_session(cli.ray_config()):
            info = generate_cohort(out, config, parallel="ray", quiet=cli.quiet, overwrite=overwrite)
    else:
        info = generate_cohort(out, config, parallel="serial", quiet=cli.quiet, overwrite=overwrite)
    auc = "n/a (one class)" if info.oracle_auc is None else f"{info.oracle_auc:.3f}"
    click.echo(
        f"wrote {info.n_patients} patients ({info.n_positive} ALNM+, prevalence {info.prevalence:.3f}) "
        f"from {config.centers} centre(s), {info.n_rows} manifest rows to {info.out_dir}\n"
        f"oracle AUC {auc} (expected {info.oracle_auc_expected:.3f}); {info.elapsed_s:.1f} s ({info.mode})\n"
        f"next: alnm-ray validate {info.manifest} --clinical {info.clinical}"
    )

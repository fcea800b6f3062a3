"""``alnm-ray synth``: write a synthetic multicentre cohort (images, masks, tables), optionally shaped like a study."""

from __future__ import annotations

from pathlib import Path

import click

from alnm_ray.cli._context import CliContext, pass_cli
from alnm_ray.cli.options import seed_option

#: Above this many patients ``--parallel auto`` uses Ray.  Measured on 2 cores:
#: an embedded Ray costs ~10-30 s to start, and 2 workers halve ~0.3 s/patient
#: (small size), so Ray pays off only beyond roughly 60-100 small patients;
#: with a running cluster (``--address``) Ray is always used.
RAY_MIN_PATIENTS = 80


@click.command("synth")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--patients", type=int, default=None,
              help="Number of patients. [default: 40 with --size small, 270 with --size paper]")
@click.option("--like", "like", default="guo2024", show_default=True,
              help="Study shape: guo2024 (MG + MRI), liu2025 (MG only, train/validation + earlier test cohort), "
                   "gu2025 (DCE_P1, two hospitals, external), zhang2025 (US tumour + node, six hospitals, "
                   "prospective set with reader calls).")
@click.option("--centers", type=int, default=None,
              help="Number of centres (scanner sites). [default: the study's: 2, or 1, 2, 6 for liu2025, "
                   "gu2025, zhang2025]")
@seed_option(help="Random seed; the same seed writes byte-identical files.")
@click.option("--signal", type=float, default=1.0, show_default=True,
              help="Image-label signal: 1 gives an oracle AUC ~0.82; 0 makes labels independent of "
                   "images and clinical data (leakage checks).")
@click.option("--size", type=click.Choice(["small", "paper"]), default="small", show_default=True,
              help="small: ~48x48x16 MRI, 128x128 MG (fast); paper: ~96x96x32 MRI, 256x256 MG.")
@click.option("--repeat-readers", type=int, default=None,
              help="Patients also outlined by the study's second readers (B, and A2 = reader A again), for the "
                   "ICC filter. [default: 30 for guo2024; the paper's share (at least 8) for gu2025 and "
                   "zhang2025; none for liu2025]")
@click.option("--prevalence", type=float, default=None,
              help="Expected ALNM prevalence. [default: the paper's, e.g. Guo 2024: 117/270 = 0.433]")
@click.option("--cohort", "cohort_name", default="synth", show_default=True,
              help="Cohort name written to every manifest row.")
@click.option("--parallel", type=click.Choice(["auto", "serial", "ray"]), default="auto", show_default=True,
              help=f"auto: Ray when --address is given or above {RAY_MIN_PATIENTS} patients, else serial. "
                   "The files are identical either way.")
@click.option("--overwrite", is_flag=True, help="Replace a synthetic cohort previously written to OUT.")
@pass_cli
def synth(cli: CliContext, out: Path, patients: int | None, like: str, centers: int | None, seed: int,
          signal: float, size: str, repeat_readers: int | None, prevalence: float | None, cohort_name: str,
          parallel: str, overwrite: bool) -> None:
    """Write a synthetic multicentre ALNM cohort to OUT.

    Per patient (guo2024, the default): MG_CC and MG_MLO (2-D), T2WI, DWI,
    ADC and DCE_P2 (3-D) as compressed NIfTI; reader A masks for everyone,
    reader B and A2 masks for a random subset; manifest.csv, clinical.csv,
    truth.csv and cohort.json (counts, prevalence, oracle AUC, centres).
    --like shapes the cohort like another paper: its sequences, second
    readers, centres, splits and clinical variables.

    Example: alnm-ray synth cohort/ --patients 20 --centers 2 --seed 7

    Example: alnm-ray synth us/ --like zhang2025 --patients 80 --seed 1
    """
    import os

    from alnm_ray.constants import ENV_RAY_ADDRESS
    from alnm_ray.synth import SynthConfig, generate_cohort

    config = SynthConfig(patients=patients, centers=centers, seed=seed, signal=signal, size=size,
                         n_repeat_readers=repeat_readers, prevalence=prevalence, cohort=cohort_name, like=like)
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
        f"shaped like {config.like}: {', '.join(config.shape.sequences)}; splits "
        f"{', '.join(config.shape.splits)}\n"
        f"oracle AUC {auc} (expected {info.oracle_auc_expected:.3f}); {info.elapsed_s:.1f} s ({info.mode})\n"
        f"next: alnm-ray validate {info.manifest} --clinical {info.clinical}"
    )

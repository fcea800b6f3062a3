"""``alnm-ray train``: fit one pipeline on all training patients and write a frozen bundle."""

from __future__ import annotations

import json

import click

from alnm_ray.cli._context import CliContext, pass_cli
from alnm_ray.cli.options import (
    CLASSIFIERS,
    STORE_ENVVAR,
    RegistryChoice,
    cohorts_option,
    json_flag,
    overwrite_option,
    seed_option,
    selection_options,
    store_option,
    table_pins_option,
)


@click.command()
@store_option(required=False, note="Default: the run's store.")
@click.option("--run", "run_dir", type=click.Path(exists=True, file_okay=False), default=None, metavar="RUN",
              help="A `tune` run folder: its selection preset/config, seed and table versions are used "
                   "(run.json or config.yaml). Options below override it.")
@click.option("--protocol", "protocol_spec", default=None, metavar="NAME|FILE",
              help="A study protocol (shipped name or YAML file): its selection, the classifier's parameters, "
                   "seed, reader and training split. Flags that would change those are refused.")
@click.option("--feature-set", required=True, metavar="SET",
              help="Feature set: radiomics, deep, combined, clinical, clinical+radiomics, …")
@click.option("--classifier", required=True, type=RegistryChoice(CLASSIFIERS, "classifier"),
              help="Classifier name; a wrong name lists them.")
@click.option("--out", required=True, type=click.Path(file_okay=False), metavar="BUNDLE",
              help="Bundle folder to create.")
@selection_options(preset_default=None, preset_note="when not taken from --run")
@seed_option(None, help="Seed of selection and classifier (default: the run's, else TrainConfig.seed).")
@table_pins_option("Table version to train on (repeatable; default: the run's, else the latest).")
@click.option("--param", "params", multiple=True, metavar="KEY=JSON",
              help="Classifier parameter override, e.g. --param C=0.5 (repeatable).")
@click.option("--reader", default=None, help="Reader of the modelling masks (default A).")
@click.option("--split", default=None, metavar="NAME",
              help="Train on patients with this split value (default 'train'; '' = every labelled patient).")
@cohorts_option("Train on these cohorts only (repeatable).")
@click.option("--threshold", default=None, metavar="youden|cv-youden|P",
              help="Decision threshold: Youden on training predictions (default), on out-of-fold "
                   "predictions, or a fixed probability.")
@overwrite_option("Replace an existing bundle at --out.")
@click.option("--signing-key", type=click.Path(dir_okay=False), default=None,
              metavar="NAME.key", help="Ed25519 private key that signs the bundle (from `alnm-ray keys create`; "
                                       "also $ALNM_RAY_SIGNING_KEY). Required unless --unsigned.")
@click.option("--unsigned", is_flag=True,
              help="Write an unsigned bundle (scoring then needs --trust-unsigned). Not for sharing.")
@click.option("--explain-background", type=click.IntRange(min=0), default=100, show_default=True, metavar="N",
              help="Training rows (sampled, seeded, transformed, no ids) stored in the bundle for SHAP "
                   "(`alnm-ray explain`). They are training patients' data: 0 stores none.")
@click.option("--mlflow-uri", default=None, envvar="MLFLOW_TRACKING_URI", metavar="URI",
              help="Also log the bundle as an MLflow model (needs alnm-ray[mlflow]; also $MLFLOW_TRACKING_URI).")
@json_flag()
@pass_cli
def train(ctx: CliContext, store: str | None, run_dir: str | None, feature_set: str, classifier: str,
          out: str, preset: str | None, selection_yaml: str | None, seed: int | None, tables: dict[str, str],
          params: tuple[str, ...], reader: str | None, split: str | None, cohorts: tuple[str, ...],
          threshold: str | None, overwrite: bool, signing_key: str | None, unsigned: bool, as_json: bool,
          explain_background: int = 100, mlflow_uri: str | None = None, protocol_spec: str | None = None) -> None:
    """Fit one pipeline on every training patient and write a frozen BUNDLE.

    The bundle folder holds the preprocessing plan, PyRadiomics params and
    embedding config the training features were made with, the fitted
    selection pipeline and classifier (skops), the decision threshold,
    per-feature training summaries for drift checks, metadata.json, a
    CHECKSUMS.sha256 file and SIGNATURE.json (Ed25519, --signing-key);
    `alnm-ray score` refuses it if any file changes or the signer is not
    trusted. Without a key, train refuses to start (make one with
    `alnm-ray keys create`) unless --unsigned is given.

    \b
    Examples:
      alnm-ray keys create --name site-a
      alnm-ray train --store store/ --run runs/guo --feature-set combined --classifier mlp --out bundles/mlp \\
        --signing-key ~/.config/alnm-ray/keys/site-a.key
      alnm-ray train --store store/ --preset guo2024 --feature-set radiomics --classifier lr --out b/ --unsigned
      alnm-ray train --store store/ --protocol guo2024 --feature-set combined --classifier mlp --out b/ --unsigned
    """
    import yaml

    from alnm_ray.cli._errors import UserError
    from alnm_ray.score.runs import load_run, train_settings
    from alnm_ray.score.train import TrainConfig, train_bundle

    settings: dict = {}
    run = {}
    if run_dir is not None:
        run = load_run(run_dir)
        settings = train_settings(run, feature_set, classifier)
    if protocol_spec is not None:
        settings = _protocol_settings(protocol_spec, feature_set, classifier, run_dir, settings,
                                      {"seed": seed, "selection_yaml": selection_yaml, "preset": preset,
                                       "params": params, "reader": reader, "split": split})
    store = store or run.get("store")
    if not store:
        raise UserError(f"--store: expected the feature store to train from; got none. Pass --store PATH "
                        f"(or set ${STORE_ENVVAR}), or --run with a run.json that names its store.")
    overrides = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--param {item!r}: expected KEY=VALUE (VALUE as JSON, e.g. C=0.5 or "
                            "hidden_layer_sizes=[32]).")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    if overrides:
        settings["classifier_params"] = {**settings.get("classifier_params", {}), **overrides}
    if selection_yaml:
        settings["selection"] = yaml.safe_load(open(selection_yaml, encoding="utf-8"))
    elif preset:
        settings["selection"] = preset
    if seed is not None:
        settings["seed"] = seed
    if tables:
        settings["tables"] = {**settings.get("tables", {}), **tables}
    if reader:
        settings["reader"] = reader
    if split is not None:
        settings["split"] = split or None
    if cohorts:
        settings["cohorts"] = cohorts
    if threshold:
        settings["threshold"] = threshold
    config = TrainConfig(feature_set=feature_set, classifier=classifier, run=run_dir, **settings)
    if mlflow_uri:  # a tracking store MLflow refuses fails before the fit
        from alnm_ray.tracking import check_uri

        check_uri(mlflow_uri)
    result = train_bundle(store, config, out, overwrite=overwrite, signing_key=signing_key, unsigned=unsigned,
                          explain_background=explain_background)
    if mlflow_uri:
        from alnm_ray.tracking import log_bundle

        click.echo(f"MLflow model: {log_bundle(mlflow_uri, result.path)}", err=True)
    if as_json:
        click.echo(json.dumps(result.__dict__, default=str, indent=1))
        return
    click.echo(f"bundle {result.bundle_id} written to {result.path} ({result.model_format}): "
               f"{config.feature_set}/{config.classifier} on {result.n_patients} patients "
               f"({result.n_positive} positive), {result.features} features -> {len(result.selected)} used; "
               f"threshold {result.threshold:.3f}; apparent training AUC {result.train_auc:.3f} "
               f"({result.seconds:.1f} s); " + (f"signed by {result.signer[:16]}" if result.signer
                                               else "UNSIGNED (--unsigned)"))


#: Parameter name -> the flag as typed, for the flags a protocol decides.
_FLAGS = {"preset": "--preset", "selection_yaml": "--selection", "seed": "--seed", "params": "--param",
          "reader": "--reader", "split": "--split"}


def _protocol_settings(spec: str, feature_set: str, classifier: str, run_dir: str | None, from_run: dict,
                       values: dict) -> dict:
    """TrainConfig settings of ``--protocol``; refuses flags (and a --run of another protocol) that conflict."""
    from alnm_ray.cli._errors import UserError
    from alnm_ray.protocol import load_protocol
    from alnm_ray.protocol.stages import TRAIN_OWNED, flag_conflicts, protocol_train_settings

    p = load_protocol(spec)
    ctx = click.get_current_context()
    given = {flag: (" ".join(values[name]) if isinstance(values[name], tuple) else values[name])
             for name, flag in _FLAGS.items()
             if ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)}
    conflicts = flag_conflicts(p, given, TRAIN_OWNED, "train")
    recorded = from_run.get("protocol") or {}
    if run_dir is not None and recorded.get("hash") != p.hash:
        conflicts.append(f"--run {run_dir}: expected a `tune --protocol {p.name}` run (protocol hash "
                         f"{p.hash[:12]}); got a run of {recorded.get('name', 'no protocol')}"
                         f"{' (' + str(recorded.get('hash'))[:12] + ')' if recorded else ''}. Drop --run, or "
                         "point it at a run of this protocol.")
    if conflicts:
        raise UserError(f"train --protocol {p.name}: {len(conflicts)} flag(s) the protocol decides:\n"
                        + "\n".join(f"  - {c}" for c in conflicts))
    settings = protocol_train_settings(p, feature_set, classifier)
    if "tables" in from_run:  # the run's exact table versions, when training from a run of this protocol
        settings["tables"] = from_run["tables"]
    return settings

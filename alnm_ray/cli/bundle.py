"""``alnm-ray bundle``: inspect frozen bundles (``bundle show`` prints the model card)."""

from __future__ import annotations

import click


@click.group()
def bundle() -> None:
    """Inspect frozen bundles written by `alnm-ray train`."""


@bundle.command("show")
@click.argument("path", type=click.Path(exists=True, file_okay=False), metavar="BUNDLE")
@click.option("--trust", "trust", multiple=True, type=click.Path(exists=True), metavar="KEY.pub|DIR",
              help="Public key (or folder of *.pub) whose bundles are accepted (also $ALNM_RAY_TRUSTED_KEYS).")
@click.option("--trust-unsigned", is_flag=True, help="Show an unsigned bundle or one from an unknown signer.")
def show(path: str, trust: tuple[str, ...], trust_unsigned: bool) -> None:
    """Verify BUNDLE (signature and checksums, as `score` does) and print its model card.

    \b
    Example:
      alnm-ray bundle show bundles/lr
    """
    from alnm_ray.cli._errors import UserError
    from alnm_ray.score.bundle import load_bundle
    from alnm_ray.score.signing import TrustPolicy

    loaded = load_bundle(path, trust=TrustPolicy.from_paths(trust, allow_unsigned=trust_unsigned))
    card = loaded.extras.get("model_card")
    if card is None:
        raise UserError(f"bundle {path}: expected a model card (MODEL_CARD.md); the bundle has none (written by "
                        "an older alnm-ray). Re-train it with `alnm-ray train` to get one.")
    signer = loaded.signature.to_dict() if loaded.signature else {}
    click.echo(f"bundle {loaded.bundle_id} ({path}): "
               + (f"signed by {signer.get('signer', '')[:16]}" if signer.get("verified")
                  else f"NOT VERIFIED ({signer.get('status')})"))
    click.echo(card.decode("utf-8"))

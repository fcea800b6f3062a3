"""``alnm-ray keys``: the Ed25519 key pairs that sign model bundles."""

from __future__ import annotations

import click


@click.group()
def keys() -> None:
    """Make and inspect the key pairs that sign model bundles.

    `alnm-ray train --signing-key NAME.key` signs a bundle with the private
    key; `alnm-ray score --trust NAME.pub` (or $ALNM_RAY_TRUSTED_KEYS) accepts
    bundles signed by it. Keep the .key file private (mode 0600, never in a
    bundle or a repository); hand the .pub file to the sites that score, and
    compare its fingerprint with them over another channel (phone, letter).

    \b
    Examples:
      alnm-ray keys create --out ~/.config/alnm-ray/keys --name hospital-a
      alnm-ray keys fingerprint hospital-a.pub
    """


@keys.command("create")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Folder for NAME.key and NAME.pub (default: ~/.config/alnm-ray/keys).")
@click.option("--name", default="alnm-ray", show_default=True, metavar="NAME", help="File stem of the key pair.")
def create(out: str | None, name: str) -> None:
    """Make a new Ed25519 key pair (never overwrites an existing one)."""
    from alnm_ray.score.signing import SHORT, create_key_pair, load_public_keys

    private, public = create_key_pair(out, name)
    fp = load_public_keys(public)[0].fingerprint
    click.echo(f"private key (keep secret, pass to `alnm-ray train --signing-key`): {private}")
    click.echo(f"public key (give to scoring sites, `alnm-ray score --trust`):     {public}")
    click.echo(f"fingerprint: {fp} (short {fp[:SHORT]})")


@keys.command("fingerprint")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True), metavar="KEY.pub|DIR...")
def fingerprint_cmd(paths: tuple[str, ...]) -> None:
    """Print the fingerprint of public keys (files or folders of *.pub)."""
    from alnm_ray.score.signing import load_public_keys

    for path in paths:
        for key in load_public_keys(path):
            click.echo(f"{key.fingerprint}  {key.source}")

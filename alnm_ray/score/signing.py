"""Ed25519 signatures of model bundles: who wrote a bundle, checked before anything is read.

A bundle's ``CHECKSUMS.sha256`` lists the SHA-256 of every other file
(``metadata.json`` included), so signing its exact bytes signs the whole
bundle.  ``alnm-ray train`` writes ``SIGNATURE.json`` next to it::

    {"format": "alnm-ray-bundle-signature/1", "algorithm": "ed25519",
     "signed_file": "CHECKSUMS.sha256",
     "signer": {"fingerprint": "<sha256 of the raw public key>", "public_key": "<base64>"},
     "signature": "<base64 Ed25519 signature of DOMAIN + the checksum file's bytes>"}

Loading checks, in this order and before any other file of the bundle is
read: the signature file is well formed; its signer is one of the
:class:`TrustPolicy`'s public keys (``--trust``, ``$ALNM_RAY_TRUSTED_KEYS``);
the signature matches the checksum file's bytes.  Only then are the files
compared with their checksums and parsed.  Unsigned bundles and bundles of
unknown signers are refused unless the policy explicitly allows them
(``--trust-unsigned``): that is logged at WARNING and recorded in the scoring
run's outputs.  A signature that does not match is always refused.

Why Ed25519 through ``cryptography`` and not OpenSSF model-signing: bundles
travel between hospitals offline (USB drive, internal file share);
model-signing builds on sigstore (OIDC identities, a transparency log,
network-oriented machinery), while a pinned key pair exchanged once, whose
fingerprint is read out over the phone, needs nothing beyond the one package.

Key files are PEM: ``NAME.key`` (PKCS#8 private key, mode 0600, unencrypted:
protect it like an SSH key) and ``NAME.pub`` (SubjectPublicKeyInfo).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alnm_ray.exceptions import BundleSignatureError, ConfigError, UnsignedBundleWarning
from alnm_ray.score.checksums import CHECKSUM_FILE, SIGNATURE_FILE
from alnm_ray.typing import PathLike

logger = logging.getLogger(__name__)

ALGORITHM = "ed25519"
SIGNATURE_FORMAT = "alnm-ray-bundle-signature/1"
#: Prefix of the signed message, so a bundle signature cannot be replayed as any other signature.
DOMAIN = b"alnm-ray bundle signature v1\n"
#: Environment variable naming the private key ``alnm-ray train`` signs with.
SIGNING_KEY_ENVVAR = "ALNM_RAY_SIGNING_KEY"
#: Environment variable listing trusted public keys (files or folders of ``*.pub``), ``os.pathsep``-separated.
TRUSTED_KEYS_ENVVAR = "ALNM_RAY_TRUSTED_KEYS"
PRIVATE_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub"
#: A signature file is a few hundred bytes; anything much larger is not one.
MAX_SIGNATURE_BYTES = 16 * 1024
#: Hex digits of a fingerprint shown in messages.
SHORT = 16
_RAW_KEY_BYTES = 32
_SIGNATURE_BYTES = 64


def fingerprint(raw: bytes) -> str:
    """SHA-256 of a raw 32-byte Ed25519 public key, as 64 hex digits."""
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class PublicKey:
    """A trusted Ed25519 public key (plain bytes: cheap to ship to Ray actors).

    Attributes:
        raw: The 32-byte raw public key.
        source: Where it came from (file path), for messages and records.
    """

    raw: bytes
    source: str = ""

    @property
    def fingerprint(self) -> str:
        """SHA-256 of :attr:`raw` (64 hex digits)."""
        return fingerprint(self.raw)

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message``."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def _raw_public(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_fingerprint(private_key: Any) -> str:
    """Fingerprint of a private key's public half (64 hex digits)."""
    return fingerprint(_raw_public(private_key.public_key()))


def default_key_dir() -> Path:
    """``$XDG_CONFIG_HOME/alnm-ray/keys`` (``~/.config/alnm-ray/keys``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "alnm-ray" / "keys"


def create_key_pair(out: PathLike | None = None, name: str = "alnm-ray") -> tuple[Path, Path]:
    """Make a new Ed25519 key pair: ``out/NAME.key`` (mode 0600) and ``out/NAME.pub``.

    Args:
        out: Folder to write into (created; default :func:`default_key_dir`).
        name: File stem (letters, digits, ``-``, ``_``, ``.``).

    Returns:
        ``(private key path, public key path)``.

    Raises:
        ConfigError: When ``name`` is not a plain file stem or either file already exists.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise ConfigError(f"--name {name!r}: expected a plain file stem (letters, digits, '-', '_', '.'); "
                          "got other characters. Choose a name like 'hospital-a-2025'.")
    folder = Path(out) if out is not None else default_key_dir()
    private, public = folder / f"{name}{PRIVATE_SUFFIX}", folder / f"{name}{PUBLIC_SUFFIX}"
    existing = [str(p) for p in (private, public) if p.exists()]
    if existing:
        raise ConfigError(f"keys create: expected new key files; {', '.join(existing)} already exist(s). "
                          "Choose another --name or --out (a key is never overwritten).")
    folder.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    logger.info("wrote key pair %s / %s (fingerprint %s)", private, public, fingerprint(_raw_public(key.public_key()))[:SHORT])
    return private, public


def load_signing_key(path: PathLike) -> Any:
    """Read an Ed25519 private key (PEM, PKCS#8, unencrypted).

    Returns:
        A ``cryptography`` ``Ed25519PrivateKey``.

    Raises:
        ConfigError: When the file is missing, not a PEM private key, encrypted or not Ed25519.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"--signing-key {source}: expected a private key file from `alnm-ray keys create`; "
                          "found no such file. Check the path (or $" + SIGNING_KEY_ENVVAR + ").")
    try:
        key = serialization.load_pem_private_key(source.read_bytes(), password=None)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"--signing-key {source}: expected an unencrypted PEM private key (NAME{PRIVATE_SUFFIX} "
                          f"from `alnm-ray keys create`); could not read it ({err}). Pass the .key file, "
                          "not the .pub file.") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"--signing-key {source}: expected an Ed25519 key; found {type(key).__name__}. "
                          "Make one with `alnm-ray keys create`.")
    return key


def resolve_signing_key(signing_key: PathLike | Any | None, *, unsigned: bool = False) -> Any | None:
    """The key ``train`` signs with: the argument, else ``$ALNM_RAY_SIGNING_KEY``; None when ``unsigned``.

    Raises:
        ConfigError: When both a key and ``unsigned`` are given, or neither.
    """
    if signing_key is None and not unsigned:
        signing_key = os.environ.get(SIGNING_KEY_ENVVAR) or None
    if unsigned:
        if signing_key is not None:
            raise ConfigError("--unsigned: expected either a signing key or --unsigned; got both. "
                              "Drop --unsigned to sign the bundle.")
        return None
    if signing_key is None:
        raise ConfigError(
            f"--signing-key: expected a private key to sign the bundle with (--signing-key PATH or "
            f"${SIGNING_KEY_ENVVAR}); got none. Make a key pair once with `alnm-ray keys create` and pass "
            "its .key file (share only the .pub file), or pass --unsigned for a bundle nobody else "
            "will load.")
    if isinstance(signing_key, (str, os.PathLike)):
        return load_signing_key(signing_key)
    return signing_key


def sign_checksums(checksums: bytes, key: Any) -> bytes:
    """The ``SIGNATURE.json`` bytes for a checksum file's exact bytes, signed with ``key``."""
    raw = _raw_public(key.public_key())
    doc = {"format": SIGNATURE_FORMAT, "algorithm": ALGORITHM, "signed_file": CHECKSUM_FILE,
           "signer": {"fingerprint": fingerprint(raw), "public_key": base64.b64encode(raw).decode()},
           "signature": base64.b64encode(key.sign(DOMAIN + checksums)).decode()}
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def load_public_keys(path: PathLike) -> list[PublicKey]:
    """Public keys from a ``.pub`` file, or from every ``*.pub`` file in a folder.

    Raises:
        ConfigError: When the path does not exist, a folder holds no ``.pub``
            file, or a file is not an Ed25519 public key.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    source = Path(path)
    if source.is_dir():
        files = sorted(source.glob(f"*{PUBLIC_SUFFIX}"))
        if not files:
            raise ConfigError(f"trusted keys {source}: expected a folder of *{PUBLIC_SUFFIX} files; found none. "
                              "Copy the bundle authors' .pub files there.")
    elif source.is_file():
        files = [source]
    else:
        raise ConfigError(f"trusted key {source}: expected a {PUBLIC_SUFFIX} file or a folder of them; found "
                          f"no such path. Check --trust and ${TRUSTED_KEYS_ENVVAR}.")
    keys = []
    for file in files:
        try:
            key = serialization.load_pem_public_key(file.read_bytes())
        except ValueError as err:
            raise ConfigError(f"trusted key {file}: expected a PEM public key ({PUBLIC_SUFFIX} from "
                              f"`alnm-ray keys create`); could not read it ({err}). Pass the .pub file, "
                              "never the private .key file.") from err
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"trusted key {file}: expected an Ed25519 public key; found {type(key).__name__}. "
                              "Ask the bundle's author for the .pub file `alnm-ray keys create` wrote.")
        keys.append(PublicKey(_raw_public(key), str(file)))
    return keys


@dataclass(frozen=True)
class TrustPolicy:
    """Which bundle signers to accept.

    Attributes:
        keys: Trusted public keys.
        allow_unsigned: Accept bundles without a trusted signature (unsigned,
            or signed by an unknown key) with a WARNING; a signature that does
            not match is refused all the same.
    """

    keys: tuple[PublicKey, ...] = ()
    allow_unsigned: bool = False

    @classmethod
    def from_paths(cls, paths: tuple[PathLike, ...] | list[PathLike] = (), *, allow_unsigned: bool = False,
                   env: bool = True) -> TrustPolicy:
        """Keys from ``paths`` plus (when ``env``) those listed in ``$ALNM_RAY_TRUSTED_KEYS``.

        Raises:
            ConfigError: As :func:`load_public_keys`.
        """
        every = [str(p) for p in paths]
        if env:
            every += [p for p in os.environ.get(TRUSTED_KEYS_ENVVAR, "").split(os.pathsep) if p.strip()]
        keys: dict[str, PublicKey] = {}
        for path in every:
            for key in load_public_keys(path):
                keys.setdefault(key.fingerprint, key)
        return cls(tuple(keys.values()), bool(allow_unsigned))

    @classmethod
    def from_env(cls) -> TrustPolicy:
        """Keys listed in ``$ALNM_RAY_TRUSTED_KEYS`` only; unsigned bundles refused."""
        return cls.from_paths((), env=True)

    def find(self, fp: str) -> PublicKey | None:
        """The trusted key with fingerprint ``fp``, or None."""
        return next((k for k in self.keys if k.fingerprint == fp), None)


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of a signature check that let a bundle through.

    Attributes:
        status: ``verified`` (trusted signer, signature matches), ``unsigned``
            or ``unknown-signer`` (both only with ``allow_unsigned``).
        signer: The signer's fingerprint (None when unsigned).
        key_source: The trusted key file that matched (verified only).
        trusted_keys: Fingerprints of the policy's keys.
    """

    status: str
    signer: str | None = None
    key_source: str | None = None
    trusted_keys: tuple[str, ...] = field(default=())

    @property
    def verified(self) -> bool:
        """True when a trusted key's signature matched."""
        return self.status == "verified"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record (written next to a scoring run's predictions)."""
        return {"status": self.status, "verified": self.verified, "signer": self.signer,
                "key_source": self.key_source, "trust_unsigned_used": not self.verified,
                "trusted_keys": list(self.trusted_keys)}

    def describe(self) -> str:
        """One line for the console."""
        if self.verified:
            return f"signed by {str(self.signer)[:SHORT]} (trusted key {self.key_source})"
        who = f" by unknown key {str(self.signer)[:SHORT]}" if self.signer else ""
        return f"NOT VERIFIED ({self.status}{who}; accepted because of --trust-unsigned)"


def _b64(value: Any, size: int) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        out = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return out if len(out) == size else None


def _parse(doc_bytes: bytes, where: str) -> tuple[str, bytes, bytes]:
    """``(fingerprint, raw public key, signature)`` of a well-formed signature file."""
    problem = None
    doc: Any = None
    if len(doc_bytes) > MAX_SIGNATURE_BYTES:
        problem = f"{len(doc_bytes)} bytes (a signature file is under {MAX_SIGNATURE_BYTES})"
    else:
        try:
            doc = json.loads(doc_bytes.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            problem = f"invalid JSON ({err})"
    if problem is None:
        signer = doc.get("signer") if isinstance(doc, dict) else None
        raw = _b64(signer.get("public_key") if isinstance(signer, dict) else None, _RAW_KEY_BYTES)
        sig = _b64(doc.get("signature") if isinstance(doc, dict) else None, _SIGNATURE_BYTES)
        if not isinstance(doc, dict) or doc.get("format") != SIGNATURE_FORMAT:
            problem = f"format {doc.get('format') if isinstance(doc, dict) else doc!r:.60}"
        elif doc.get("algorithm") != ALGORITHM:
            problem = f"algorithm {doc.get('algorithm')!r:.40}"
        elif doc.get("signed_file") != CHECKSUM_FILE:
            problem = f"signed_file {doc.get('signed_file')!r:.60}"
        elif raw is None or sig is None:
            problem = "a public key or signature that is not base64 of the right length"
        elif not isinstance(signer, dict) or signer.get("fingerprint") != fingerprint(raw):
            problem = "a signer fingerprint that does not match its public key"
        else:
            return fingerprint(raw), raw, sig
    raise BundleSignatureError(
        f"{where}: expected a signature file written by `alnm-ray train` ({SIGNATURE_FORMAT}, {ALGORITHM}, "
        f"over {CHECKSUM_FILE}); found {problem}. Nothing else was read. Ask the bundle's author for the "
        "original folder.")


def _allow(check: SignatureCheck, source: str, quiet: bool) -> SignatureCheck:
    if quiet:
        return check
    what = ("has no signature" if check.status == "unsigned"
            else f"is signed by key {str(check.signer)[:SHORT]}, which is not trusted")
    message = (f"bundle {source} {what}; loading it anyway because --trust-unsigned was given. Its author "
               "and integrity are NOT verified; this is recorded in the scoring run's outputs.")
    logger.warning(message)
    warnings.warn(message, UnsignedBundleWarning, stacklevel=3)
    return check


def verify_bundle_signature(source: str, checksums: bytes, signature: bytes | None,
                            policy: TrustPolicy, *, quiet: bool = False) -> SignatureCheck:
    """Check a bundle's signature file against its checksum file's exact bytes and ``policy``.

    Args:
        source: The bundle (for messages).
        checksums: Bytes of its ``CHECKSUMS.sha256``.
        signature: Bytes of its ``SIGNATURE.json`` (None when absent).
        policy: The trusted keys and whether unsigned bundles are allowed.
        quiet: Do not log/warn about an unverified bundle accepted by the policy
            (the caller checks again and warns then).

    Returns:
        A :class:`SignatureCheck`.

    Raises:
        BundleSignatureError: Unsigned or unknown signer (unless ``policy.allow_unsigned``),
            a malformed signature file, or a signature that does not match (always).
    """
    trusted = tuple(k.fingerprint for k in policy.keys)
    where = f"{source}/{SIGNATURE_FILE}"
    how_to_trust = (f"pass --trust <their .pub file> (or list it in ${TRUSTED_KEYS_ENVVAR}) after "
                    "checking its fingerprint with the author (`alnm-ray keys fingerprint`)")
    if signature is None:
        check = SignatureCheck("unsigned", trusted_keys=trusted)
        if policy.allow_unsigned:
            return _allow(check, source, quiet)
        raise BundleSignatureError(
            f"bundle {source}: expected a {SIGNATURE_FILE} signed by a trusted key; found none (unsigned "
            "bundle). Nothing else was read. Ask the author to re-train with `alnm-ray train --signing-key` "
            "(key pair from `alnm-ray keys create`), or, if you accept an unverified model, pass "
            "--trust-unsigned (logged and recorded with the predictions).")
    fp, raw, sig = _parse(signature, where)
    message = DOMAIN + checksums
    key = policy.find(fp)
    if not PublicKey(key.raw if key else raw).verify(sig, message):
        raise BundleSignatureError(
            f"{where}: expected the signature of key {fp[:SHORT]} to match {CHECKSUM_FILE}; it does not "
            "(signature mismatch: the bundle's files, checksums or id were changed after it was signed). "
            "Nothing else was read. Do not use this folder: get the original bundle from its author.")
    if key is not None:
        return SignatureCheck("verified", fp, key.source, trusted)
    check = SignatureCheck("unknown-signer", fp, None, trusted)
    if policy.allow_unsigned:
        return _allow(check, source, quiet)
    known = ", ".join(t[:SHORT] for t in trusted[:8]) or f"none configured (--trust, ${TRUSTED_KEYS_ENVVAR})"
    raise BundleSignatureError(
        f"bundle {source}: expected a signature by a trusted key ({known}); found a valid signature by "
        f"unknown signer {fp}. Nothing else was read. If you trust this author, {how_to_trust}; "
        "otherwise do not use the bundle.")


def trust_record_path(out: PathLike) -> Path:
    """``x.parquet`` -> ``x.bundle-trust.json`` (next to the predictions, like the other reports)."""
    base = Path(out)
    stem = base.with_suffix("") if base.suffix else base
    return stem.parent / f"{stem.name}.bundle-trust.json"


def write_trust_record(out: PathLike, *, bundle_id: str, bundle_path: str, check: SignatureCheck | None) -> Path:
    """Record how a scoring run's bundle was trusted, next to its predictions.

    Returns:
        The path written (``<out stem>.bundle-trust.json``).
    """
    record = {"bundle_id": bundle_id, "bundle": bundle_path,
              **(check.to_dict() if check is not None else {"status": "not-checked", "verified": False})}
    path = trust_record_path(out)
    path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path

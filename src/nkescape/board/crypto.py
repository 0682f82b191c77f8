"""The board's keys: a passphrase or a key file, the subkeys derived from it, field encryption.

One secret opens a board. It is either a passphrase, stretched by Argon2id with the board's random
salt, or a key file of 32 random bytes. From that master key HKDF-SHA256 derives one independent
subkey per use, so that no key serves two purposes:

* ``database``: SQLCipher's raw page key (the embedded file is encrypted page by page);
* ``fields``: AES-256-GCM of every sensitive field, on both backends, so that a PostgreSQL server
  (its disk, WAL, backups and administrators) only ever holds ciphertext;
* ``index``: HMAC-SHA256 blind index of journey codes, partner and user names and session tokens,
  so that a row can be found by equality without storing the value;
* ``audit``: HMAC-SHA256 chain over the audit log;
* ``check``: a key-check value, so that a wrong key is refused before anything is written.

Every field ciphertext is bound by its associated data to its table, column and row: a ciphertext
copied to another row, column or table does not decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from nkescape.board.errors import BoardError, ConflictError

__all__ = [
    "ARGON2_MEMORY_KIB",
    "ARGON2_PARALLELISM",
    "ARGON2_TIME_COST",
    "KEY_BYTES",
    "MIN_PASSPHRASE_CHARS",
    "SALT_BYTES",
    "BoardKey",
    "FieldCipher",
    "KdfParams",
    "Keyring",
    "derive_keyring",
    "new_key_file",
]

# Argon2id with RFC 9106's second recommended option (section 4): t=3 passes over m=64 MiB with
# p=4 lanes. The first option (2 GiB) is out of reach of the small laptops an NGO runs the board
# on; 64 MiB still costs an attacker a GPU's memory bandwidth per guess.
ARGON2_TIME_COST = 3
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_PARALLELISM = 4
# Bounds on stored parameters (a board's meta table, an export's header): whoever can write those
# must not make opening a board or an archive take gigabytes or hours. Far above any sane setting.
ARGON2_MAX_TIME_COST = 64
ARGON2_MAX_MEMORY_KIB = 4 * 1024 * 1024
ARGON2_MAX_PARALLELISM = 64
# Argon2's own floor: 8 KiB of memory per lane.
ARGON2_MIN_KIB_PER_LANE = 8
# 128-bit salts and 256-bit keys: RFC 9106 recommends 128-bit salts, AES-256 takes 256-bit keys.
SALT_BYTES = 16
KEY_BYTES = 32
# NIST SP 800-63B asks for at least 8 characters; a board's passphrase protects people's lives and
# faces offline guessing of a stolen file, so 12 (about a 4-word passphrase's lower bound).
MIN_PASSPHRASE_CHARS = 12
# A key file holds the key as hex so it can be printed, copied by hand and checked by eye.
KEY_FILE_HEX_CHARS = 2 * KEY_BYTES
# The key file is readable by its owner only (like an SSH private key).
KEY_FILE_MODE = 0o600
# AES-GCM's standard 96-bit nonce; random nonces are safe for well under 2**32 messages per key.
NONCE_BYTES = 12
# The first byte of every field ciphertext names its format, so a later format can coexist.
FIELD_FORMAT_V1 = b"\x01"
# Field plaintexts are padded with spaces (valid trailing JSON whitespace) to a multiple of this,
# so a ciphertext's length tells a note's length only to the nearest 64 bytes.
FIELD_PAD_BYTES = 64
# HKDF's info strings: one per subkey, versioned so a future scheme derives unrelated keys.
_HKDF_INFO = "nkescape-board/v1/"
_PURPOSES = ("database", "fields", "index", "audit", "check", "export")
# The message the key-check value is the HMAC of.
_CHECK_MESSAGE = b"nkescape board key check v1"


@dataclass(frozen=True)
class KdfParams:
    """How a passphrase was stretched: Argon2id's cost parameters (stored with a board/export)."""

    time_cost: int = ARGON2_TIME_COST
    memory_kib: int = ARGON2_MEMORY_KIB
    parallelism: int = ARGON2_PARALLELISM

    def to_json(self) -> dict[str, Any]:
        """The parameters as a JSON object (for a board's meta table or an export header)."""
        return {
            "kdf": "argon2id",
            "time_cost": self.time_cost,
            "memory_kib": self.memory_kib,
            "parallelism": self.parallelism,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KdfParams:
        """Read parameters written by :meth:`to_json`; BoardError if they are not Argon2id's."""
        try:
            if data["kdf"] != "argon2id":
                raise KeyError("kdf")
            params = cls(int(data["time_cost"]), int(data["memory_kib"]), int(data["parallelism"]))
            if not (
                1 <= params.time_cost <= ARGON2_MAX_TIME_COST
                and 1 <= params.parallelism <= ARGON2_MAX_PARALLELISM
                and ARGON2_MIN_KIB_PER_LANE * params.parallelism
                <= params.memory_kib
                <= ARGON2_MAX_MEMORY_KIB
            ):
                raise ValueError("out of bounds")
            return params
        except (KeyError, TypeError, ValueError) as exc:
            raise BoardError(
                "the stored key-derivation parameters are not readable Argon2id parameters: "
                "the board or archive was not written by nkescape, or is damaged"
            ) from exc


@dataclass(frozen=True, repr=False)
class BoardKey:
    """The secret that opens a board: a passphrase or a key file's 32 bytes. Never printed."""

    secret: bytes
    kind: Literal["passphrase", "keyfile"]

    def __repr__(self) -> str:
        return f"BoardKey(kind={self.kind!r}, secret=<hidden>)"

    __str__ = __repr__

    @classmethod
    def from_passphrase(cls, text: str) -> BoardKey:
        """A key from a passphrase of at least :data:`MIN_PASSPHRASE_CHARS` characters.

        Parameters
        ----------
        text
            The passphrase, as typed (UTF-8 encoded; not normalised).

        Raises
        ------
        BoardError
            If it is shorter than the minimum.
        """
        if len(text) < MIN_PASSPHRASE_CHARS:
            raise BoardError(
                f"the passphrase has {len(text)} characters; use at least {MIN_PASSPHRASE_CHARS} "
                "(a few unrelated words), or a key file"
            )
        return cls(text.encode("utf-8"), "passphrase")

    @classmethod
    def from_key_file(cls, path: Path) -> BoardKey:
        """A key from a key file of 64 hex characters (32 bytes), as :func:`new_key_file` writes.

        Parameters
        ----------
        path
            The key file.

        Raises
        ------
        BoardError
            If the file cannot be read or does not hold exactly 64 hex characters.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise BoardError(
                f"cannot read the key file {path}: {type(exc).__name__}; "
                "give the file `nkescape board init` wrote"
            ) from exc
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
        if len(text) != KEY_FILE_HEX_CHARS or len(raw) != KEY_BYTES:
            raise BoardError(
                f"the key file {path} does not hold {KEY_FILE_HEX_CHARS} hex characters "
                f"({KEY_BYTES} bytes); give the file `nkescape board init` wrote"
            )
        return cls(raw, "keyfile")

    def master_key(self, salt: bytes, params: KdfParams | None = None) -> bytes:
        """The 32-byte master key for a board or archive with this ``salt``.

        A passphrase is stretched with Argon2id (``params``, RFC 9106 by default; about a
        quarter of a second); a key file's bytes are used as they are (HKDF adds the salt).
        """
        if self.kind == "keyfile":
            return self.secret
        p = params or KdfParams()
        return hash_secret_raw(
            self.secret,
            salt,
            time_cost=p.time_cost,
            memory_cost=p.memory_kib,
            parallelism=p.parallelism,
            hash_len=KEY_BYTES,
            type=Type.ID,
        )


def new_key_file(path: Path) -> None:
    """Write a new key file: 32 random bytes as 64 hex characters, readable by its owner only.

    Parameters
    ----------
    path
        Where to write it; it must not exist.

    Raises
    ------
    ConflictError
        If a file exists at ``path`` (a key file is never overwritten: its board would be lost).
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    except FileExistsError as exc:
        raise ConflictError(
            f"a file exists at {path}; a key file is never overwritten: choose another path"
        ) from exc
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secrets.token_hex(KEY_BYTES) + "\n")
    # O_CREAT's mode is filtered by the umask, which may be laxer or stricter than intended.
    path.chmod(KEY_FILE_MODE)


def _hkdf(master: bytes, salt: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=salt,
        info=(_HKDF_INFO + purpose).encode("ascii"),
    ).derive(master)


def _aad(table: str, column: str, row: str) -> bytes:
    # The unit separator cannot occur in table or column names, and the row id is last.
    return f"nkescape-board\x1f{table}\x1f{column}\x1f{row}".encode()


class FieldCipher:
    """AES-256-GCM of JSON values, bound to (table, column, row) by the associated data."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def encrypt(self, value: Any, *, table: str, column: str, row: str) -> bytes:
        """Encrypt a JSON-serialisable ``value`` for the cell (``table``, ``column``, ``row``)."""
        plain = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        data = plain.encode("utf-8")
        data += b" " * (-len(data) % FIELD_PAD_BYTES)
        nonce = secrets.token_bytes(NONCE_BYTES)
        return FIELD_FORMAT_V1 + nonce + self._aead.encrypt(nonce, data, _aad(table, column, row))

    def decrypt(self, blob: bytes, *, table: str, column: str, row: str) -> Any:
        """Decrypt a value :meth:`encrypt` wrote for the same cell.

        Raises
        ------
        BoardError
            If the ciphertext was changed, or belongs to another cell or another key.
        """
        blob = bytes(blob)
        nonce = blob[1 : 1 + NONCE_BYTES]
        try:
            if blob[:1] != FIELD_FORMAT_V1:
                raise InvalidTag
            data = self._aead.decrypt(nonce, blob[1 + NONCE_BYTES :], _aad(table, column, row))
        except InvalidTag as exc:
            raise BoardError(
                f"a stored {table}.{column} value does not decrypt: the database was changed "
                "outside nkescape; restore the database from a backup"
            ) from exc
        return json.loads(data.decode("utf-8"))


@dataclass(frozen=True, repr=False)
class Keyring:
    """The subkeys of one board (see the module's docstring). Never printed."""

    database: bytes
    fields: bytes
    index: bytes
    audit: bytes
    check: bytes
    export: bytes

    def __repr__(self) -> str:
        return "Keyring(<hidden>)"

    __str__ = __repr__

    def blind_index(self, kind: str, value: str) -> bytes:
        """HMAC-SHA256 of ``value`` in the domain ``kind`` ("journey", "partner", "user", ...)."""
        return hmac.new(self.index, f"{kind}\x00{value}".encode(), hashlib.sha256).digest()

    def audit_mac(self, message: bytes) -> bytes:
        """HMAC-SHA256 with the audit subkey (the chain and its head)."""
        return hmac.new(self.audit, message, hashlib.sha256).digest()

    def check_value(self) -> bytes:
        """The key-check value stored with a board: equal for the right key only."""
        return hmac.new(self.check, _CHECK_MESSAGE, hashlib.sha256).digest()

    def field_cipher(self) -> FieldCipher:
        """The AES-256-GCM cipher of the board's fields."""
        return FieldCipher(self.fields)


def derive_keyring(key: BoardKey, salt: bytes, params: KdfParams | None = None) -> Keyring:
    """Derive a board's subkeys from its key and salt (Argon2id once, then HKDF-SHA256).

    Parameters
    ----------
    key
        The passphrase or key file.
    salt
        The board's random salt (:data:`SALT_BYTES` bytes).
    params
        Argon2id's parameters for a passphrase (RFC 9106's second option by default).
    """
    if len(salt) != SALT_BYTES:
        raise BoardError(f"a board's salt has {SALT_BYTES} bytes, not {len(salt)}: damaged board")
    master = key.master_key(salt, params)
    sub = {purpose: _hkdf(master, salt, purpose) for purpose in _PURPOSES}
    return Keyring(**sub)

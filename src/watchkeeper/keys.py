"""The server's key, and what is derived from it: the enquiry links' signing key and the at-rest cipher.

The key is WATCHKEEPER_SECRET_KEY if set, else a key file made once, mode
0600, beside the SQLite database (or in the working directory, or at
WATCHKEEPER_KEY_FILE). It is never written to the database: whoever reads
the database (or a backup of it) must not be able to sign an answer link or
read the passwords in notification channels. Each use derives its own
sub-key with HKDF under a label of its own, so no two uses share a key.

Sealed values read `wk1:` followed by base64 of an AES-GCM nonce and
ciphertext; a value without the prefix is one written before sealing began
and is read as it is.
"""

from __future__ import annotations

import base64
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import make_url

SEALED = "wk1:"
UNREADABLE = "unreadable://sealed-with-another-server-key"
KEY_FILE = "watchkeeper.key"


class KeyFileError(RuntimeError):
    """The key file cannot be made or read; the message says what to do."""


def default_key_file(database_url: str) -> Path:
    """Beside the SQLite file; for a server database, in the working directory."""
    if database_url.startswith("sqlite"):
        database = make_url(database_url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            return Path(database).resolve().parent / KEY_FILE
    return Path(KEY_FILE).resolve()


def read_or_make_key_file(path: Path) -> bytes:
    """The key in `path`, made there first (mode 0600) if there is none. Two processes making it at once agree."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise KeyFileError(
            f"cannot make the server key file {path} ({exc.strerror}); "
            "set WATCHKEEPER_KEY_FILE to a writable path or WATCHKEEPER_SECRET_KEY"
        ) from exc
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    try:
        key = path.read_text().strip()
    except OSError as exc:
        raise KeyFileError(f"cannot read the server key file {path} ({exc.strerror})") from exc
    if len(key) < 16:
        raise KeyFileError(f"the server key file {path} holds no key (under 16 characters); restore it from a backup")
    return key.encode()


class ServerKey:
    """The key, read when first needed (a command that seals and signs nothing never makes a key file)."""

    def __init__(self, load: Callable[[], bytes]) -> None:
        self._load = load
        self._raw: bytes | None = None
        self._derived: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, *, database_url: str, secret_key: str | None = None, key_file: str | None = None) -> ServerKey:
        if secret_key:
            return cls(lambda: secret_key.encode())
        path = Path(key_file) if key_file else default_key_file(database_url)
        return cls(lambda: read_or_make_key_file(path))

    def raw(self) -> bytes:
        with self._lock:
            if self._raw is None:
                self._raw = self._load()
            return self._raw

    def derive(self, label: str) -> bytes:
        raw = self.raw()
        with self._lock:
            if label not in self._derived:
                hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"watchkeeper:" + label.encode())
                self._derived[label] = hkdf.derive(raw)
            return self._derived[label]

    def seal(self, text: str) -> str:
        if text.startswith(SEALED):
            return text
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.derive("at-rest")).encrypt(nonce, text.encode(), None)
        return SEALED + base64.urlsafe_b64encode(nonce + sealed).decode()

    def unseal(self, text: str) -> str:
        """The plain text of a sealed value; a value sealed under another key reads as UNREADABLE."""
        if not text.startswith(SEALED):
            return text
        try:
            data = base64.urlsafe_b64decode(text.removeprefix(SEALED))
            return AESGCM(self.derive("at-rest")).decrypt(data[:12], data[12:], None).decode()
        except (InvalidTag, ValueError):
            return UNREADABLE


def mask(url: str) -> str:
    """An Apprise URL with its password hidden, as lists show it: mailto://user:****@host."""
    scheme, sep, rest = url.partition("://")
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    userinfo, at, host = rest[:end].rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:****@{host}{rest[end:]}"

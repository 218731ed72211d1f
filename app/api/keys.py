"""API keys of the HTTP service: named, stored only as sha256 hashes, re-read when the file changes.

The keys file (``NEOVASC_API_KEYS_FILE``) holds one ``name:sha256hex`` line per key; ``#`` starts a
comment. A key is 32 random bytes, so a plain sha256 is enough to keep it secret at rest (a slow password
hash protects guessable secrets, not random ones). ``neovasc keys add NAME`` makes a key, prints it once
and stores its hash; the running service picks the change up on the next request, so keys rotate
without a restart: add the new one, move the clients over, remove the old one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from app.errors import error_json

log = logging.getLogger("neovasc.api")

KEY_PREFIX = "nvk_"  # makes a leaked key easy to recognise in a scan of logs or repositories
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HASH_PATTERN = re.compile(r"^[0-9a-f]{64}$")
EXIT_OK, EXIT_USAGE = 0, 2


class KeysFileError(ValueError):
    """The keys file cannot be read or holds a malformed line (the message names the line number only)."""


def new_key() -> str:
    """A fresh random key: ``nvk_`` and 43 URL-safe characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """The sha256 of a key, as 64 lowercase hex digits: what the keys file stores."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_keys(text: str) -> dict[str, str]:
    """``name -> sha256hex`` from the keys file's text; a malformed or repeated line raises KeysFileError."""
    keys: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, digest = line.partition(":")
        name, digest = name.strip(), digest.strip().lower()
        if not NAME_PATTERN.match(name) or not _HASH_PATTERN.match(digest):
            raise KeysFileError(f"line {number} is not 'name:sha256hex' (a name of letters, digits, '.', '_', '-')")
        if name in keys:
            raise KeysFileError(f"line {number} repeats a key name")
        keys[name] = digest
    return keys


def read_keys(path: Path) -> dict[str, str]:
    """The keys stored in ``path``; an unreadable or malformed file raises KeysFileError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeysFileError(f"cannot read the keys file {path}: {type(exc).__name__}") from exc
    return parse_keys(text)


def write_keys(path: Path, keys: dict[str, str]) -> None:
    """Replace ``path`` atomically with ``keys``, readable by the owner only (the service re-reads it live)."""
    text = "# neovasc API keys: name:sha256 of the key (neovasc keys add NAME)\n"
    text += "".join(f"{name}:{digest}\n" for name, digest in keys.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@dataclass
class KeyRing:
    """The keys of a keys file, re-read whenever its modification time, size or inode changes.

    A file that becomes unreadable or malformed while the service runs accepts no key until it is
    repaired (fail closed); the reason is logged once per change.
    """

    path: Path
    _stamp: tuple[int, int, int] | None = None
    _hashes: dict[str, str] | None = None

    def _refresh(self) -> dict[str, str]:
        try:
            info = self.path.stat()
            stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        except OSError:
            stamp = None
        if self._hashes is not None and stamp == self._stamp:
            return self._hashes
        try:
            self._hashes = read_keys(self.path)
        except KeysFileError as exc:
            log.error("no API key is accepted until the keys file is repaired: %s", exc)
            self._hashes = {}
        self._stamp = stamp
        return self._hashes

    def names(self) -> list[str]:
        """The names of the keys now in the file."""
        return sorted(self._refresh())

    def verify(self, key: str) -> str | None:
        """The name of the key, or None. Every stored hash is compared in constant time, none skipped."""
        digest = key_hash(key)
        match = None
        for name, stored in self._refresh().items():
            if hmac.compare_digest(digest, stored):
                match = name
        return match


def keys_command(action: str, name: str | None, path: Path | None, stdout: TextIO) -> int:
    """``neovasc keys add NAME | list | remove NAME`` on the keys file ``path``; the exit code.

    ``add`` prints the new key once on stdout; only its hash is stored. An error is one JSON line on stderr,
    ``{"ok": false, "error": {"code": "usage_error", ...}}``, as every usage error of ``neovasc``, and exit code 2.
    """
    try:
        if path is None:
            raise KeysFileError("no keys file: set NEOVASC_API_KEYS_FILE or pass --file PATH")
        if action == "list":
            if not path.exists():
                raise KeysFileError(f"no keys file at {path}; 'neovasc keys add NAME' creates it")
            keys = read_keys(path)
            stdout.write("".join(f"{key_name}\tsha256:{digest[:12]}\n" for key_name, digest in keys.items()))
            return EXIT_OK
        if name is None or not NAME_PATTERN.match(name):
            raise KeysFileError(f"'{action}' needs a NAME of 1-64 letters, digits, '.', '_' or '-'")
        keys = read_keys(path) if path.exists() else {}
        if action == "add":
            return _add(path, keys, name, stdout)
        if name not in keys:
            raise KeysFileError(f"no key named {name!r} in {path}; 'neovasc keys list' shows the names")
        del keys[name]
        write_keys(path, keys)
        print(f"removed key {name!r} from {path}; the service stops accepting it at once", file=sys.stderr)
        return EXIT_OK
    except (KeysFileError, OSError) as exc:
        print(error_json("usage_error", str(exc)), file=sys.stderr)
        return EXIT_USAGE


def _add(path: Path, keys: dict[str, str], name: str, stdout: TextIO) -> int:
    if name in keys:
        raise KeysFileError(f"a key named {name!r} exists; to rotate, add a new name, then remove {name!r}")
    key = new_key()
    keys[name] = key_hash(key)
    write_keys(path, keys)
    stdout.write(key + "\n")
    print(f"added key {name!r} to {path}; it is shown once, store it now", file=sys.stderr)
    return EXIT_OK

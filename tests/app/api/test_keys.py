"""The keys file and ``neovasc keys``: hashes only at rest, one line per named key, live re-reading."""

from __future__ import annotations

import io
import json
import os

import pytest

from app.api.keys import KeyRing, KeysFileError, key_hash, keys_command, new_key, parse_keys, read_keys, write_keys
from app.cli import main


def test_new_keys_are_random_and_prefixed():
    keys = {new_key() for _ in range(50)}
    assert len(keys) == 50 and all(k.startswith("nvk_") and len(k) == 47 for k in keys)


def test_parse_keys_skips_comments_and_blank_lines():
    digest = key_hash("nvk_x")
    text = f"# keys\n\nris:{digest}  # the RIS gateway\n  pacs-2:{digest.upper()}\n"
    assert parse_keys(text) == {"ris": digest, "pacs-2": digest}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("ris\n", "line 1"), ("ris:abc\n", "line 1"), ("# c\nbad name:" + "0" * 64 + "\n", "line 2"),
     ("a:" + "0" * 64 + "\na:" + "1" * 64 + "\n", "line 2 repeats")],
    ids=["no-hash", "short-hash", "space-in-name", "repeated"],
)  # fmt: skip
def test_malformed_keys_files_name_the_line_not_its_content(text, fragment):
    with pytest.raises(KeysFileError, match=fragment) as caught:
        parse_keys(text)
    assert "abc" not in str(caught.value)


def test_add_list_remove(tmp_path, capsys):
    path = tmp_path / "etc" / "keys"
    out = io.StringIO()
    assert keys_command("add", "ris", path, out) == 0
    key = out.getvalue().strip()
    assert key.startswith("nvk_") and key not in path.read_text()  # shown once, stored as its hash
    assert read_keys(path) == {"ris": key_hash(key)}
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert keys_command("add", "ris", path, io.StringIO()) == 2  # no silent replacement
    assert "exists" in capsys.readouterr().err
    keys_command("add", "pacs", path, io.StringIO())
    listing = io.StringIO()
    assert keys_command("list", None, path, listing) == 0
    assert listing.getvalue() == f"ris\tsha256:{key_hash(key)[:12]}\npacs\tsha256:{read_keys(path)['pacs'][:12]}\n"
    assert keys_command("remove", "ris", path, io.StringIO()) == 0
    assert list(read_keys(path)) == ["pacs"]
    assert keys_command("remove", "ris", path, io.StringIO()) == 2


@pytest.mark.parametrize(("action", "name"), [("add", None), ("add", "two words"), ("remove", "")])
def test_bad_names_are_usage_errors(tmp_path, capsys, action, name):
    assert keys_command(action, name, tmp_path / "keys", io.StringIO()) == 2
    assert "NAME" in capsys.readouterr().err and not (tmp_path / "keys").exists()


def test_errors_are_one_json_line(tmp_path, capsys):
    """A name that exists and a keys file that does not: the JSON error line of every usage error, exit code 2."""
    path, missing = tmp_path / "keys", tmp_path / "nonexistent"
    assert main(["keys", "add", "ris", "--file", str(path)], stdout=io.StringIO()) == 0
    capsys.readouterr()
    assert main(["keys", "add", "ris", "--file", str(path)], stdout=io.StringIO()) == 2
    listing = io.StringIO()
    assert main(["keys", "list", "--file", str(missing)], stdout=listing) == 2 and listing.getvalue() == ""
    exists, absent = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert exists["ok"] is False and exists["error"]["code"] == "usage_error" and "exists" in exists["error"]["message"]
    assert (
        absent["ok"] is False
        and absent["error"]["code"] == "usage_error"
        and str(missing) in absent["error"]["message"]
    )
    assert not missing.exists()


def test_command_line_uses_the_configured_file(tmp_path, monkeypatch):
    from app.config import get_settings

    path = tmp_path / "keys"
    monkeypatch.setenv("NEOVASC_API_KEYS_FILE", str(path))
    get_settings.cache_clear()
    try:
        out = io.StringIO()
        assert main(["keys", "add", "ward-7"], stdout=out) == 0
        assert read_keys(path) == {"ward-7": key_hash(out.getvalue().strip())}
        monkeypatch.delenv("NEOVASC_API_KEYS_FILE")
        get_settings.cache_clear()
        assert main(["keys", "list"], stdout=io.StringIO()) == 2  # no file configured, none given
        listing = io.StringIO()
        assert main(["keys", "list", "--file", str(path)], stdout=listing) == 0 and listing.getvalue().startswith(
            "ward-7"
        )
    finally:
        get_settings.cache_clear()


def test_keyring_rereads_a_changed_file(tmp_path):
    path = tmp_path / "keys"
    first, second = new_key(), new_key()
    write_keys(path, {"a": key_hash(first)})
    ring = KeyRing(path)
    assert ring.verify(first) == "a" and ring.verify(second) is None
    write_keys(path, {"b": key_hash(second)})
    assert ring.verify(first) is None and ring.verify(second) == "b" and ring.names() == ["b"]
    path.unlink()
    assert ring.verify(second) is None  # a vanished file accepts nothing

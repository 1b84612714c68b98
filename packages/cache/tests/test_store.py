"""The artifact store: atomic publish, verified load, refusal of unsafe or damaged entries."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import stat

import pytest

from airgraph_cache import (
    ArtifactStore,
    CacheSecurityError,
    rank_folder,
    safe_files,
    safe_json_loads,
    signing,
)
from airgraph_cache.manifest import manifest_checksum

FILES = {"graph.pb": b"\x08\x01graph-bytes" * 50, "gears.json": b'{"gears": [[2, 4]]}'}
FIELDS = {"key": {"method": "_forward"}, "key_digest": "ab" * 32}


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(tmp_path / "cache", lock_timeout=10)


@pytest.fixture
def entry(store):
    path = store.root / "Model__forward_0123456789abcdef" / rank_folder(0)
    assert store.publish(path, FILES, FIELDS) is True
    return path


def resign(entry):
    """Sign the entry's manifest as it now is, with the user's key: the writer's own mistake,
    which only the checks after the signature can catch."""
    location = f"{entry.parent.name}/{entry.name}"
    data = (entry / "manifest.json").read_bytes()
    (entry / "manifest.sig").write_bytes(signing.sign_manifest(signing.load_key(), location, data))


def signed(damage):
    def damage_then_resign(entry):
        damage(entry)
        resign(entry)

    return damage_then_resign


def rewrite_manifest(entry, change):
    """Edit the manifest and keep it consistent (checksum updated): a forger's edit."""
    manifest = json.loads((entry / "manifest.json").read_text())
    change(manifest)
    manifest["checksum"] = manifest_checksum(manifest)
    (entry / "manifest.json").write_text(json.dumps(manifest))


def test_round_trip(store, entry):
    assert store.load(entry) == FILES
    assert store.load(entry, key_digest=FIELDS["key_digest"]) == FILES
    manifest = safe_json_loads((entry / "manifest.json").read_bytes())
    assert manifest["key"] == FIELDS["key"]
    assert manifest["created"].endswith("Z")
    assert manifest["files"]["graph.pb"] == {
        "size": len(FILES["graph.pb"]),
        "sha256": hashlib.sha256(FILES["graph.pb"]).hexdigest(),
    }


def test_layout_and_permissions(store, entry):
    assert entry.parent.parent == store.root
    for folder in (store.root, entry.parent, entry):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for name in [*FILES, "manifest.json"]:
        assert stat.S_IMODE((entry / name).stat().st_mode) == 0o600, name
    assert (entry.parent / "rank_0.lock").exists()
    leftovers = [p.name for p in entry.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_manifest_is_human_readable(entry):
    text = (entry / "manifest.json").read_text()
    assert "\n  " in text  # indented, one field a line
    assert '"sha256"' in text and '"created"' in text


def test_miss_creates_nothing(store):
    path = store.root / "Model__forward_0123456789abcdef" / "rank_0"
    assert store.load(path) is None
    assert not store.root.exists()


def test_first_writer_wins(store, entry):
    created = safe_json_loads((entry / "manifest.json").read_bytes())["created"]
    assert store.publish(entry, {"graph.pb": b"other"}, FIELDS) is False
    assert store.load(entry) == FILES
    assert safe_json_loads((entry / "manifest.json").read_bytes())["created"] == created


def test_publish_replaces_an_entry_of_another_key_digest(store, entry):
    assert store.publish(entry, {"graph.pb": b"new"}, {"key_digest": "cd" * 32}) is True
    assert store.load(entry, key_digest="cd" * 32) == {"graph.pb": b"new"}


def test_lock_is_reentrant_around_publish(store):
    path = store.root / "M_f_0123456789abcdef" / "rank_0"
    with store.lock(path):
        assert store.load(path) is None
        assert store.publish(path, FILES) is True
    assert store.load(path) == FILES


def _truncate(entry):
    (entry / "graph.pb").write_bytes(FILES["graph.pb"][:10])


def _flip_byte(entry):
    data = bytearray((entry / "graph.pb").read_bytes())
    data[len(data) // 2] ^= 0x01
    (entry / "graph.pb").write_bytes(bytes(data))


def _extend(entry):
    (entry / "graph.pb").write_bytes(FILES["graph.pb"] + b"x")


def _remove_file(entry):
    (entry / "gears.json").unlink()


def _remove_manifest(entry):
    (entry / "manifest.json").unlink()


def _garble_manifest(entry):
    (entry / "manifest.json").write_bytes(b"\x80\x04not json at all")


def _truncate_manifest(entry):
    text = (entry / "manifest.json").read_bytes()
    (entry / "manifest.json").write_bytes(text[: len(text) // 2])


def _edit_manifest_without_checksum(entry):
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["created"] = "1999-01-01T00:00:00Z"
    (entry / "manifest.json").write_text(json.dumps(manifest))


def _unsafe_file_name_in_manifest(entry):
    rewrite_manifest(entry, lambda m: m["files"].update({"../escape": m["files"]["graph.pb"]}))


def _other_format(entry):
    rewrite_manifest(entry, lambda m: m.update(format="something-else/9"))


DAMAGE = [
    ("truncated file", _truncate, "graph.pb: truncated"),
    ("flipped byte", _flip_byte, "graph.pb: sha256 differs"),
    ("longer file", _extend, "graph.pb: longer than recorded"),
    ("missing file", _remove_file, "gears.json: file is missing"),
    ("missing manifest", _remove_manifest, "manifest.json: file is missing"),
    ("garbled manifest", signed(_garble_manifest), "manifest.json: not JSON"),
    ("truncated manifest", signed(_truncate_manifest), "manifest.json: not JSON"),
    ("edited manifest", signed(_edit_manifest_without_checksum), "checksum does not match"),
    ("path in manifest", signed(_unsafe_file_name_in_manifest), "file name"),
    ("other format", signed(_other_format), "format is 'something-else/9'"),
    # Unsigned edits: the signature is checked first and refuses them all.
    ("garbled manifest, unsigned", _garble_manifest, "not signed with your key"),
    ("forged manifest", _unsafe_file_name_in_manifest, "not signed with your key"),
]


@pytest.mark.parametrize(("what", "damage", "message"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damaged_entry_is_a_miss_reported_and_rebuilt(store, entry, caplog, what, damage, message):
    damage(entry)
    with caplog.at_level(logging.WARNING, logger="airgraph.cache"):
        assert store.load(entry) is None
    assert message in caplog.text, caplog.text
    assert not entry.exists(), "a damaged entry must be moved aside"
    assert [p.name for p in entry.parent.iterdir() if p.name.startswith(".")] == []
    assert store.publish(entry, FILES, FIELDS) is True
    assert store.load(entry) == FILES


def test_damaged_entry_is_replaced_by_publish(store, entry, caplog):
    _flip_byte(entry)
    with caplog.at_level(logging.WARNING, logger="airgraph.cache"):
        assert store.publish(entry, FILES, FIELDS) is True
    assert "sha256 differs" in caplog.text
    assert store.load(entry) == FILES


def test_wrong_key_digest_is_a_miss(store, entry, caplog):
    with caplog.at_level(logging.WARNING, logger="airgraph.cache"):
        assert store.load(entry, key_digest="ff" * 32) is None
    assert "key digest" in caplog.text


def _chown_file(entry):
    os.chown(entry / "graph.pb", 12345, 12345)


def _chown_manifest(entry):
    os.chown(entry / "manifest.json", 12345, 12345)


def _chown_rank_dir(entry):
    os.chown(entry, 12345, 12345)


def _chown_entry_dir(entry):
    os.chown(entry.parent, 12345, 12345)


def _foreign_extra_file(entry):
    (entry / "extra.bin").write_bytes(b"x")
    os.chmod(entry / "extra.bin", 0o600)
    os.chown(entry / "extra.bin", 12345, 12345)


def _world_writable_file(entry):
    os.chmod(entry / "graph.pb", 0o666)


def _group_writable_manifest(entry):
    os.chmod(entry / "manifest.json", 0o620)


def _world_writable_rank_dir(entry):
    os.chmod(entry, 0o777)


def _group_writable_entry_dir(entry):
    os.chmod(entry.parent, 0o770)


def _symlinked_file(entry):
    target = entry.parent.parent / "elsewhere.pb"
    target.write_bytes(FILES["graph.pb"])
    (entry / "graph.pb").unlink()
    (entry / "graph.pb").symlink_to(target)


def _fifo_file(entry):
    (entry / "gears.json").unlink()
    os.mkfifo(entry / "gears.json", 0o600)


def _symlinked_rank_dir(entry):
    real = entry.parent / "real_rank"
    entry.rename(real)
    entry.symlink_to(real)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")

UNSAFE = [
    pytest.param(_chown_file, "owned by uid 12345", id="foreign file", marks=needs_root),
    pytest.param(_chown_manifest, "owned by uid 12345", id="foreign manifest", marks=needs_root),
    pytest.param(_chown_rank_dir, "owned by uid 12345", id="foreign rank dir", marks=needs_root),
    pytest.param(_chown_entry_dir, "owned by uid 12345", id="foreign entry dir", marks=needs_root),
    pytest.param(_foreign_extra_file, "owned by uid 12345", id="foreign extra", marks=needs_root),
    pytest.param(_world_writable_file, "writable by group or others", id="world-writable file"),
    pytest.param(
        _group_writable_manifest, "writable by group or others", id="group-writable manifest"
    ),
    pytest.param(_world_writable_rank_dir, "writable by group or others", id="world-writable dir"),
    pytest.param(
        _group_writable_entry_dir, "writable by group or others", id="group-writable entry dir"
    ),
    pytest.param(_symlinked_file, "symlink", id="symlinked file"),
    pytest.param(_fifo_file, "expected a plain file", id="fifo"),
    pytest.param(_symlinked_rank_dir, "symlink", id="symlinked rank dir"),
]


def _snapshot(root):
    return sorted(
        (str(p.relative_to(root)), p.lstat().st_mode, p.lstat().st_uid) for p in root.rglob("*")
    )


@pytest.mark.parametrize(("make_unsafe", "message"), UNSAFE)
def test_unsafe_entry_is_refused_and_left_alone(store, entry, caplog, make_unsafe, message):
    make_unsafe(entry)
    before = _snapshot(store.root)
    with caplog.at_level(logging.WARNING, logger="airgraph.cache"):
        assert store.load(entry) is None
    assert message in caplog.text, caplog.text
    assert "refusing" in caplog.text
    assert _snapshot(store.root) == before, "refused entries must not be touched"
    with pytest.raises(CacheSecurityError, match=message):
        store.publish(entry, FILES, FIELDS)
    assert _snapshot(store.root) == before


def test_entry_of_another_user_is_refused_without_root(store, entry, monkeypatch, caplog):
    # Where chown is impossible: the same check, seen from a different current uid.
    monkeypatch.setattr(safe_files, "current_uid", lambda: os.geteuid() + 1)
    with caplog.at_level(logging.WARNING, logger="airgraph.cache"):
        assert store.load(entry) is None
    assert "not by the current user" in caplog.text
    assert entry.exists()


class _RunsShellOnUnpickle:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_in_the_cache_does_not_execute(store, entry, tmp_path, caplog):
    from airgraph_core import deserialize

    # The payload is live: unpickling it really runs a command.
    control = tmp_path / "control_marker"
    pickle.loads(pickle.dumps(_RunsShellOnUnpickle(control)))
    assert control.exists()

    marker = tmp_path / "marker"
    payload = pickle.dumps(_RunsShellOnUnpickle(marker))

    # 1. Every artifact replaced by the payload, with a manifest that matches it, signed
    # with the user's key (as if the user's own process had written it: defence in depth).
    for name in FILES:
        (entry / name).write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    rewrite_manifest(
        entry,
        lambda m: m["files"].update(
            {name: {"size": len(payload), "sha256": digest} for name in FILES}
        ),
    )
    resign(entry)
    files = store.load(entry)
    assert files is not None and files["graph.pb"] == payload  # raw bytes, never interpreted
    with pytest.raises(ValueError):
        deserialize(files["graph.pb"])
    with pytest.raises(ValueError):
        safe_json_loads(files["gears.json"])
    assert not marker.exists()

    # 2. The manifest itself replaced by the payload (and signed).
    (entry / "manifest.json").write_bytes(payload)
    resign(entry)
    with caplog.at_level(logging.WARNING, logger="airgraph.cache"):
        assert store.load(entry) is None
    assert "manifest.json: not JSON" in caplog.text
    assert not marker.exists()


@pytest.mark.parametrize(
    "data",
    [b"\x80\x04\x95", b"NaN", b'{"a": 1, "a": 2}', b"{'a': 1}", b"", b'{"a": Infinity}'],
)
def test_safe_json_loads_rejects_what_is_not_strict_json(data):
    with pytest.raises(ValueError):
        safe_json_loads(data)


def test_failed_write_leaves_nothing_visible(store, monkeypatch):
    path = store.root / "M_f_0123456789abcdef" / "rank_0"
    real = safe_files.write_file
    calls = []

    def failing(dir_fd, name, data):
        calls.append(name)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(dir_fd, name, data)

    monkeypatch.setattr(safe_files, "write_file", failing)
    with pytest.raises(OSError, match="No space"):
        store.publish(path, FILES)
    assert not path.exists()
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []
    assert store.load(path) is None


def test_stale_temporaries_of_crashed_writers_are_removed(store):
    path = store.root / "M_f_0123456789abcdef" / "rank_0"
    path.parent.mkdir(parents=True, mode=0o700)
    (path.parent / ".rank_0.tmp-crashed").mkdir(mode=0o700)
    (path.parent / ".rank_1.tmp-busy").mkdir(mode=0o700)  # another rank's: not ours to touch
    assert store.publish(path, FILES) is True
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == [".rank_1.tmp-busy", "rank_0", "rank_0.lock"]


def test_entries_lists_published_rank_folders(store, entry):
    other = store.root / "Other_decode_fedcba9876543210" / rank_folder(1, tp_rank=0, pp_rank=0)
    store.publish(other, FILES)
    assert store.entries() == [entry, other]
    assert ArtifactStore(store.root / "absent").entries() == []


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((-1,), ValueError, "global_rank"),
        ((0, -2), ValueError, "tp_rank"),
        ((0, 0, -3), ValueError, "pp_rank"),
        (("0",), TypeError, "global_rank"),
        ((True,), TypeError, "global_rank"),
        ((0, 1.0), TypeError, "tp_rank"),
    ],
)
def test_rank_folder_validates(args, error, match):
    with pytest.raises(error, match=match):
        rank_folder(*args)


def test_rank_folder_names():
    assert rank_folder() == "rank_0"
    assert rank_folder(5) == "rank_5"
    assert rank_folder(5, tp_rank=1) == "rank_5_tp1"
    assert rank_folder(5, pp_rank=2) == "rank_5_pp2"
    assert rank_folder(5, 1, 2) == "rank_5_tp1_pp2"


@pytest.mark.parametrize(
    ("files", "fields", "error", "match"),
    [
        ({"../x": b""}, None, ValueError, "file name"),
        ({".hidden": b""}, None, ValueError, "file name"),
        ({"a/b": b""}, None, ValueError, "file name"),
        ({"manifest.json": b""}, None, ValueError, "file name"),
        ({"a": "text"}, None, TypeError, r"files\['a'\]"),
        ([("a", b"")], None, TypeError, "files"),
        ({"a": b""}, {"files": 1}, ValueError, "manifest_fields"),
        ({"a": b""}, {"x": object()}, TypeError, "manifest_fields"),
        ({"a": b""}, {"x": float("nan")}, TypeError, "manifest_fields"),
    ],
)
def test_publish_validates_its_arguments(store, files, fields, error, match):
    path = store.root / "M_f_0123456789abcdef" / "rank_0"
    with pytest.raises(error, match=match):
        store.publish(path, files, fields)
    assert not path.exists()


@pytest.mark.parametrize("where", ["outside", "too shallow", "hidden"])
def test_entry_dir_must_be_a_rank_folder_under_the_root(store, tmp_path, where):
    path = {
        "outside": tmp_path / "elsewhere" / "e" / "rank_0",
        "too shallow": store.root / "rank_0",
        "hidden": store.root / "e" / ".rank_0",
    }[where]
    with pytest.raises(ValueError, match="entry_dir"):
        store.load(path)
    with pytest.raises(ValueError, match="entry_dir"):
        store.publish(path, FILES)


def test_store_validates_its_arguments(tmp_path):
    with pytest.raises(TypeError, match="root"):
        ArtifactStore(3)
    with pytest.raises(TypeError, match="lock_timeout"):
        ArtifactStore(tmp_path, lock_timeout="10")


# -- concurrency: 8 writers and 2 readers on one empty cache -------------------------------

_WORKER = r"""
import json, logging, os, sys, time
from pathlib import Path
from airgraph_cache import ArtifactStore

role, root, entry, go, stop, wid = sys.argv[1:7]
warnings = []


class Collect(logging.Handler):
    def emit(self, record):
        warnings.append(record.getMessage())


logging.getLogger("airgraph.cache").addHandler(Collect(logging.WARNING))
store = ArtifactStore(root, lock_timeout=60)
entry = Path(entry)
PARTS = 4


def writer_of(files):
    # A complete entry holds PARTS files all written by one writer, in full.
    assert sorted(files) == [f"part{i}.bin" for i in range(PARTS)], sorted(files)
    owners = set()
    for name, data in files.items():
        head = data.split(b"|", 1)[0]
        assert data == (head + b"|" + name.encode() + b";") * (len(data) // (len(head) + len(name) + 2)), name
        owners.add(head)
    assert len(owners) == 1, owners
    return owners.pop().decode()


while not os.path.exists(go):
    time.sleep(0.001)

if role == "writer":
    files = {
        f"part{i}.bin": (f"writer{wid}|part{i}.bin;".encode()) * 40000 for i in range(PARTS)
    }
    won = store.publish(entry, files, {"writer_id": f"writer{wid}"})
    seen = writer_of(store.load(entry))
    print(json.dumps({"won": won, "seen": seen, "pid": os.getpid(), "warnings": warnings}))
else:
    misses = hits = 0
    bad = []
    while True:
        finished = os.path.exists(stop)
        files = store.load(entry)
        if files is None:
            misses += 1
        else:
            try:
                writer_of(files)
                hits += 1
            except AssertionError as error:
                bad.append(repr(error)[:200])
        if finished:
            break
    print(json.dumps({"misses": misses, "hits": hits, "bad": bad, "warnings": warnings}))
"""


@pytest.mark.slow
def test_concurrent_writers_one_wins_and_readers_never_see_a_partial_entry(tmp_path):
    import sys
    import time
    from concurrent.futures import ThreadPoolExecutor

    import fresh_python

    root = tmp_path / "cache"
    entry = root / "Model__forward_0123456789abcdef" / "rank_0"
    go, stop = tmp_path / "go", tmp_path / "stop"

    def run(role, wid):
        argv = [sys.executable, "-c", _WORKER, role, str(root), str(entry), str(go), str(stop)]
        process = fresh_python.run([*argv, str(wid)], capture_output=True, text=True, timeout=120)
        assert process.returncode == 0, process.stderr[-2000:]
        return json.loads(process.stdout)

    # Ten processes at once (each waits in the thread that started it).
    with ThreadPoolExecutor(max_workers=10) as pool:
        readers = [pool.submit(run, "reader", i) for i in range(2)]
        writers = [pool.submit(run, "writer", i) for i in range(8)]
        time.sleep(0.3)  # let every process reach the start line
        go.touch()
        try:
            results = [w.result() for w in writers]
        finally:
            stop.touch()  # the readers stop even when a writer failed
        seen_by_readers = [r.result() for r in readers]

    winners = [r for r in results if r["won"]]
    assert len(winners) == 1, results
    manifest = safe_json_loads((entry / "manifest.json").read_bytes())
    assert manifest["writer"]["pid"] == winners[0]["pid"]
    assert {r["seen"] for r in results} == {manifest["writer_id"]}
    for r in results + seen_by_readers:
        assert r["warnings"] == [], r
    for r in seen_by_readers:
        assert r["bad"] == [], r
        assert r["hits"] >= 1, r  # the last round ran after every writer had finished
    assert sorted(p.name for p in entry.parent.iterdir()) == ["rank_0", "rank_0.lock"]

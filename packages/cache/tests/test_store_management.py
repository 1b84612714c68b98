"""Managing a cache: hit counts and last use, removal, prune selection, export and import."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from airgraph_cache import (
    ArtifactStore,
    CacheIntegrityError,
    CacheSecurityError,
    rank_folder,
    signing,
)
from airgraph_cache.entry_archive import ArchiveError, export_entries, import_archive
from airgraph_cache.entry_pruning import RankInfo, describe_ranks, select_for_prune

FILES = {"graph.pb": b"\x08\x01graph-bytes" * 50, "host_0.pt2": b"\x7fELF not a library"}
DIGEST = "ab" * 32


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(tmp_path / "cache", lock_timeout=10)


def publish(store, name="Model__forward_abababababababab", rank=0, files=FILES, digest=DIGEST):
    path = store.root / name / rank_folder(rank)
    assert store.publish(path, files, {"key": {"method": "_forward"}, "key_digest": digest})
    return path


# -- usage -----------------------------------------------------------------------------------


def test_each_load_counts_a_hit_and_moves_the_last_use(store):
    entry = publish(store)
    assert store.usage(entry).hits == 0 and store.usage(entry).last_used is None
    for _ in range(3):
        assert store.load(entry, key_digest=DIGEST) == FILES
    usage = store.usage(entry)
    assert usage.hits == 3 and usage.last_used is not None
    assert store.read(entry).files == FILES  # the record is not part of the signed entry
    assert store.load(entry, key_digest="cd" * 32) is None  # a miss counts nothing
    assert store.usage(publish(store, digest="cd" * 32)).hits == 0  # rebuilt: counts restart


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC, errno.EACCES, errno.EDQUOT])
def test_a_cache_that_cannot_record_still_hits_without_a_word(store, caplog, monkeypatch, code):
    entry = publish(store)
    real_open = os.open

    def failing(path, *args, **kwargs):
        if os.fspath(path).endswith(".uses"):
            raise OSError(code, os.strerror(code), os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", failing)
    with caplog.at_level(logging.DEBUG, logger="airgraph.cache"):
        assert store.load(entry) == FILES
    assert store.usage(entry).hits == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "not recorded" in caplog.text


def test_a_planted_usage_symlink_is_never_written_through(store, tmp_path):
    entry = publish(store)
    victim = tmp_path / "victim"
    victim.write_bytes(b"")
    (entry / ".uses").symlink_to(victim)
    assert store.load(entry) is None  # a symlink in the entry: refused, as any other
    assert victim.read_bytes() == b""


# -- removal ---------------------------------------------------------------------------------


def test_remove_deletes_the_rank_and_then_the_empty_entry_folder(store):
    rank0 = publish(store, rank=0)
    rank1 = publish(store, rank=1)
    assert store.remove(rank0) is True
    assert not rank0.exists() and rank1.exists()
    assert store.remove(rank0) is False
    assert store.remove(rank1) is True
    assert not rank1.parent.exists() and store.entries() == []


def test_remove_keeps_the_entry_folder_while_another_process_holds_a_lock(store):
    rank1 = publish(store, rank=1)
    lock = rank1.parent / "rank_0.lock"  # another process compiling rank 0 of this entry
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert store.remove(rank1) is True
        assert sorted(os.listdir(rank1.parent)) == ["rank_0.lock", "rank_1.lock"]
    finally:
        holder.kill()
        holder.communicate()


_HOLD_LOCK = """
import sys, time, filelock
lock = filelock.FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_remove_refuses_a_folder_that_is_not_private(store):
    entry = publish(store)
    entry.chmod(0o777)
    with pytest.raises(CacheSecurityError, match="writable by group or others"):
        store.remove(entry)
    assert entry.exists()
    entry.chmod(0o700)


# -- prune selection -------------------------------------------------------------------------


def _info(name, size, last_used):
    return RankInfo(Path(name), size=size, hits=0, last_used=last_used, loaded=True)


def test_prune_by_age_removes_only_what_was_not_used_recently():
    ranks = [_info("old", 10, 100.0), _info("recent", 10, 990.0), _info("older", 10, 50.0)]
    chosen = select_for_prune(ranks, older_than=500, now=1000.0)
    assert [r.path.name for r in chosen] == ["older", "old"]


def test_prune_by_size_removes_least_recently_used_first():
    ranks = [_info("a", 400, 300.0), _info("b", 400, 100.0), _info("c", 400, 200.0)]
    assert [r.path.name for r in select_for_prune(ranks, max_bytes=800, now=1000.0)] == ["b"]
    assert [r.path.name for r in select_for_prune(ranks, max_bytes=399)] == ["b", "c", "a"]
    assert select_for_prune(ranks, max_bytes=1200) == []
    with pytest.raises(ValueError, match="older_than, max_bytes"):
        select_for_prune(ranks)


def test_describe_ranks_counts_a_load_as_a_use(store):
    first = publish(store, name="M_a_1111111111111111")
    second = publish(store, name="M_b_2222222222222222")
    os.utime(first / "manifest.json", (1000, 1000))
    os.utime(second / "manifest.json", (1000, 1000))
    store.load(first)
    infos = {i.path.parent.name: i for i in describe_ranks(store)}
    assert infos["M_a_1111111111111111"].loaded and infos["M_a_1111111111111111"].hits == 1
    assert not infos["M_b_2222222222222222"].loaded
    assert infos["M_b_2222222222222222"].last_used == 1000
    assert infos["M_a_1111111111111111"].size == sum(map(len, FILES.values())) + len(
        (first / "manifest.json").read_bytes()
    ) + len((first / "manifest.sig").read_bytes())
    # The used one is kept, the other goes.
    (victim,) = select_for_prune(list(infos.values()), older_than=3600)
    assert victim.path == second


# -- export and import -----------------------------------------------------------------------


def test_export_then_import_under_another_root_hits(store, tmp_path):
    entries = [publish(store, rank=0), publish(store, rank=1)]
    archive = tmp_path / "entries.tar.gz"
    exported, installed = [], []
    assert export_entries(store, entries, archive, progress=exported.append) == [
        "Model__forward_abababababababab/rank_0",
        "Model__forward_abababababababab/rank_1",
    ]
    other = ArtifactStore(tmp_path / "elsewhere")
    report = import_archive(other, archive, progress=installed.append)
    assert exported == installed == report.installed
    assert report.installed == [
        "Model__forward_abababababababab/rank_0",
        "Model__forward_abababababababab/rank_1",
    ]
    assert report.resigned == [] and report.kept == []
    for entry in entries:
        moved = other.root / entry.parent.name / entry.name
        assert other.load(moved, key_digest=DIGEST) == FILES
        assert (moved / "manifest.json").read_bytes() == (entry / "manifest.json").read_bytes()
    assert import_archive(other, archive).kept == report.installed


def _archive(tmp_path, members, record=True):
    """A tar archive holding ``members`` (name -> bytes), plus the export record."""
    path = tmp_path / "handmade.tar"
    entries = sorted({"/".join(name.split("/")[:2]) for name in members if name.count("/") == 2})
    with tarfile.open(path, "w") as tar:
        items = dict(members)
        if record:
            items["airgraph-cache-export.json"] = json.dumps(
                {"format": "airgraph-cache-export/1", "entries": entries}
            ).encode()
        for name, data in items.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _members_of(store, entry):
    where = f"{entry.parent.name}/{entry.name}"
    return {f"{where}/{p.name}": p.read_bytes() for p in entry.iterdir() if p.name != ".uses"}


def _other_key(tmp_path, monkeypatch):
    """Switch this process to another user's key (as on another machine); returns it."""
    path = tmp_path / "other" / "key"
    monkeypatch.setenv(signing.KEY_ENV, str(path))
    return signing.load_key(create=True)


def test_an_entry_signed_with_another_key_needs_that_key_or_trust(store, tmp_path, monkeypatch):
    entry = publish(store)  # signed with this user's key
    their_key = signing.load_key(create=False)
    archive = tmp_path / "theirs.tar"
    export_entries(store, [entry], archive)
    _other_key(tmp_path, monkeypatch)  # the importer has another key
    here = ArtifactStore(tmp_path / "here")
    with pytest.raises(ArchiveError, match="not signed with your key"):
        import_archive(here, archive)
    assert not here.root.exists() or here.entries() == []
    report = import_archive(here, archive, exporter_key=their_key)
    moved = here.root / entry.parent.name / entry.name
    assert report.resigned == [f"{entry.parent.name}/{entry.name}"]
    assert here.load(moved, key_digest=DIGEST) == FILES  # re-signed: verifies with our key
    here.remove(moved)
    report = import_archive(here, archive, trust=True)
    assert report.resigned == report.installed and here.load(moved) == FILES


@pytest.mark.parametrize(
    "signature", [None, b"hmac-sha256:" + b"0" * 64 + b"\n"], ids=["unsigned", "forged"]
)
def test_unsigned_or_forged_entries_are_refused_without_trust(store, tmp_path, signature):
    entry = publish(store)
    members = _members_of(store, entry)
    sig = next(name for name in members if name.endswith("manifest.sig"))
    if signature is None:
        del members[sig]
    else:
        members[sig] = signature
    here = ArtifactStore(tmp_path / "here")
    with pytest.raises(ArchiveError, match="not signed with your key"):
        import_archive(here, _archive(tmp_path, members))
    assert here.entries() == []
    assert import_archive(here, _archive(tmp_path, members), trust=True).installed


def test_a_tampered_archive_is_refused_even_with_trust(store, tmp_path):
    entry = publish(store)
    members = _members_of(store, entry)
    name = next(n for n in members if n.endswith("graph.pb"))
    members[name] = members[name][:-1] + b"X"  # one byte changed, signature kept
    here = ArtifactStore(tmp_path / "here")
    for trust in (False, True):
        with pytest.raises(ArchiveError, match="sha256 differs.*tampered"):
            import_archive(here, _archive(tmp_path, members), trust=trust)
    assert here.entries() == []


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("dotdot", "'..' are refused"),
        ("absolute", "absolute paths"),
        ("symlink", "is a symlink"),
        ("hardlink", "is a hard link"),
        ("extra depth", "not at <entry>/<rank_N>/<file>"),
        ("no record", "not an airgraph cache export"),
    ],
)
def test_archives_with_paths_outside_the_cache_or_links_are_refused(store, tmp_path, kind, message):
    entry = publish(store)
    members = _members_of(store, entry)
    where = f"{entry.parent.name}/{entry.name}"
    path = _archive(tmp_path, members, record=kind != "no record")
    with tarfile.open(path, "a") as tar:
        if kind in ("dotdot", "absolute", "extra depth"):
            name = {
                "dotdot": f"{where}/../../../evil",
                "absolute": "/tmp/evil",
                "extra depth": f"{where}/x/y",
            }[kind]
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        elif kind in ("symlink", "hardlink"):
            info = tarfile.TarInfo(f"{where}/link")
            info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    here = ArtifactStore(tmp_path / "here")
    with pytest.raises(ArchiveError, match=message):
        import_archive(here, path, trust=True)
    assert here.entries() == []
    assert not (tmp_path / "evil").exists()


def test_install_refuses_files_the_manifest_does_not_list(store, tmp_path):
    entry = publish(store)
    manifest = (entry / "manifest.json").read_bytes()
    target = ArtifactStore(tmp_path / "t").root / entry.parent.name / entry.name
    with pytest.raises(CacheIntegrityError, match="differ from the manifest"):
        ArtifactStore(tmp_path / "t").install(target, manifest, {**FILES, "extra.bin": b""})
    with pytest.raises(TypeError, match="manifest: expected bytes"):
        ArtifactStore(tmp_path / "t").install(target, "text", FILES)

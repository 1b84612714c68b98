"""``cache_compile`` on a shared or damaged cache: concurrent cold starts, damaged,
foreign and world-writable entries, and a crafted pickle. Every run is a fresh process."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import stat
from pathlib import Path

import cache_models
import pytest

from airgraph_cache.manifest import manifest_checksum

# Slow: every case runs fresh processes.
pytestmark = pytest.mark.slow

PROCESSES = 8
FOREIGN_UID = 4242


# -- 8 processes cold-starting on one empty cache ---------------------------------------------


@pytest.fixture(scope="module")
def concurrent(tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("concurrent") / "cache"
    jobs = [("call", {"cache_dir": str(cache_dir), "model": "linear"})] * PROCESSES
    # 8 cold starts on 2 cores: the compiling process may hold the lock longer than the
    # default wait, after which the others would (correctly) compile in memory themselves.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRGRAPH_CACHE_LOCK_TIMEOUT", "300")
        return cache_dir, cache_models.run_many(jobs)


def test_concurrent_cold_starts_compile_once(concurrent):
    cache_dir, results = concurrent
    statuses = sorted(r["status"] for r in results)
    assert statuses == ["compiled"] + ["hit"] * (PROCESSES - 1), [r["stderr"] for r in results]
    assert len({r["entry"] for r in results}) == 1
    for r in results:
        assert r["error"] <= cache_models.ATOL
        # A reader never saw a partial or damaged entry: nothing was reported at all.
        assert "WARNING" not in r["stderr"] and "Traceback" not in r["stderr"], r["stderr"]
    # Only the one who compiled imported Dynamo; the others waited on the lock and loaded.
    assert sum(r["dynamo_imported"] for r in results) == 1
    entry = Path(results[0]["entry"])
    assert sorted(p.name for p in entry.parent.iterdir()) == ["rank_0", "rank_0.lock"]
    assert not [p for p in cache_dir.rglob(".*") if ".tmp-" in p.name or ".trash-" in p.name]


# -- damaged, foreign, world-writable and malicious entries ------------------------------------


class _RunsShellOnUnpickle:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _rewrite_manifest(entry: Path, change) -> None:
    """Edit the manifest and keep it self-consistent (checksum recomputed): a forger's edit."""
    manifest = json.loads((entry / "manifest.json").read_text())
    change(manifest)
    manifest["checksum"] = manifest_checksum(manifest)
    (entry / "manifest.json").write_text(json.dumps(manifest))


def _flip_graph_byte(entry: Path, root: Path) -> None:
    data = bytearray((entry / "graph.pb").read_bytes())
    data[len(data) // 2] ^= 0x01
    (entry / "graph.pb").write_bytes(bytes(data))


def _truncate_program(entry: Path, root: Path) -> None:
    text = (entry / "program.json").read_bytes()
    (entry / "program.json").write_bytes(text[: len(text) // 2])


def _foreign_owner(entry: Path, root: Path) -> None:
    for path in [entry, *entry.iterdir()]:
        os.chown(path, FOREIGN_UID, FOREIGN_UID)


def _world_writable_file(entry: Path, root: Path) -> None:
    (entry / "graph.pb").chmod(0o666)


def _world_writable_entry_folder(entry: Path, root: Path) -> None:
    entry.parent.chmod(0o777)


def _malicious_pickle(entry: Path, root: Path) -> None:
    payload = pickle.dumps(_RunsShellOnUnpickle(root / "marker"))
    for name in ("graph.pb", "program.json"):
        (entry / name).write_bytes(payload)
    record = {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    _rewrite_manifest(
        entry, lambda m: m["files"].update({"graph.pb": record, "program.json": record})
    )


DAMAGE = {
    "corrupted": (_flip_graph_byte, "graph.pb: sha256 differs from the manifest"),
    "truncated": (_truncate_program, "program.json: truncated"),
    "foreign_owner": (_foreign_owner, f"owned by uid {FOREIGN_UID}, not by the current user"),
    "world_writable_file": (_world_writable_file, "graph.pb: writable by group or others"),
    "world_writable_folder": (_world_writable_entry_folder, "writable by group or others"),
    "malicious_pickle": (_malicious_pickle, "not signed with your key"),
}
REBUILT = {"corrupted", "truncated", "malicious_pickle"}
REFUSED = {"foreign_owner", "world_writable_file", "world_writable_folder"}


def _snapshot(folder: Path) -> dict[str, tuple]:
    """Content, owner and mode of every path under ``folder`` (the folder itself included)."""
    found = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        st = os.lstat(path)
        data = path.read_bytes() if path.is_file() else b""
        found[str(path.relative_to(folder))] = (
            hashlib.sha256(data).hexdigest(),
            st.st_uid,
            st.st_mode,
        )
    return found


@pytest.fixture(scope="module")
def damaged(concurrent, tmp_path_factory):
    """Each case: a copy of the published cache, damaged, then fresh processes in turn."""
    source_cache, results = concurrent
    entry_rel = Path(results[0]["entry"]).relative_to(source_cache)
    cases = {}
    for case, (damage, _) in DAMAGE.items():
        if case == "foreign_owner" and os.geteuid() != 0:
            continue  # chown needs root; test_store.py checks the same rule without it
        root = tmp_path_factory.mktemp(case)
        cache_dir = root / "cache"
        shutil.copytree(source_cache, cache_dir)
        entry = cache_dir / entry_rel
        damage(entry, root)
        cases[case] = {
            "root": root,
            "cache": cache_dir,
            "entry": entry,
            "before": _snapshot(entry.parent),
        }
    for round_name in ("first", "second"):
        # The second start only where the first rebuilt the entry: it must hit.
        todo = {k: c for k, c in cases.items() if round_name == "first" or k in REBUILT}
        jobs = [("call", {"cache_dir": str(c["cache"]), "model": "linear"}) for c in todo.values()]
        results = cache_models.run_many(jobs, compiler=round_name == "first")
        for c, result in zip(todo.values(), results):
            c[round_name] = result
            c[f"after_{round_name}"] = _snapshot(c["entry"].parent)
    return cases


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_or_unsafe_entry_is_reported_and_results_stay_correct(damaged, case):
    if case not in damaged:
        pytest.skip("chown to another user needs root")
    c = damaged[case]
    first = c["first"]
    assert DAMAGE[case][1] in first["stderr"], first["stderr"]
    assert first["status"] == "compiled", first["stderr"]
    for run in (c["first"], c.get("second", first)):
        assert run["error"] <= cache_models.ATOL
        assert run["entry"] == str(c["entry"])


@pytest.mark.parametrize("case", sorted(REBUILT))
def test_damaged_entry_is_rebuilt(damaged, case):
    c = damaged[case]
    assert c["after_first"] != c["before"]
    assert c["second"]["status"] == "hit", c["second"]["stderr"]
    assert "WARNING" not in c["second"]["stderr"], c["second"]["stderr"]
    assert c["second"]["dynamo_imported"] is False


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_unsafe_entry_is_refused_and_left_untouched(damaged, case):
    if case not in damaged:
        pytest.skip("chown to another user needs root")
    c = damaged[case]
    # Compiled in memory, nothing published over it, nothing moved or deleted.
    assert c["after_first"] == c["before"], "a refused entry was modified"
    assert "not saved" in c["first"]["stderr"] or "cache not used" in c["first"]["stderr"]


def test_crafted_pickle_never_executes(damaged, tmp_path):
    # The payload is live: unpickling it really runs a command.
    control = tmp_path / "control_marker"
    pickle.loads(pickle.dumps(_RunsShellOnUnpickle(control)))
    assert control.exists()
    assert not (damaged["malicious_pickle"]["root"] / "marker").exists()


def test_published_entry_is_private(concurrent):
    _, results = concurrent
    entry = Path(results[0]["entry"])
    for path in [entry.parent.parent, entry.parent, entry]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for path in entry.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert path.stat().st_uid == os.geteuid()

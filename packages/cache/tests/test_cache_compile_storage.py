"""``cache_compile`` when the disk fails: every storage failure costs the cache, never the call.

Failures that need a mount (EROFS, ENOSPC) are simulated by a fake file
system layer (monkeypatched calls that raise the errno for paths under the
cache, and only there). Tests run as root here, so ``chmod`` blocks nothing:
an unwritable cache is a file in place of a folder, or a patched call.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cache_models
import pytest
import torch

from airgraph_cache import safe_files, sharing
from airgraph_cache.store import ArtifactStore


def _call(cache_dir: Path, **model_options) -> tuple[torch.nn.Module, float]:
    net = cache_models.build("linear", str(cache_dir), model_options=model_options)
    x = torch.randn(4, 8)
    got = net(x)
    with torch.inference_mode():
        want = net._forward(x)
    return net, cache_models.max_error(got, want)


def _warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "airgraph.cache" and r.levelno >= logging.WARNING
    ]


def _under(root: Path, path) -> bool:
    return os.fspath(path).startswith(str(root))


def _raise_for_cache_paths(monkeypatch, module, name, root: Path, code: int) -> None:
    """Make ``module.name(path, ...)`` fail with ``code`` for paths under ``root`` only."""
    real = getattr(module, name)

    def failing(*args, **kwargs):
        if any(_under(root, a) for a in args if isinstance(a, (str, os.PathLike))):
            raise OSError(code, os.strerror(code), os.fspath(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, failing)


# -- each failure: the right result, one warning naming the path and the reason -------------


def _file_in_place_of_the_dir(root, monkeypatch):
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_text("not a folder")
    return "Not a directory"


def _read_only_file_system(root, monkeypatch):
    _raise_for_cache_paths(monkeypatch, os, "makedirs", root, errno.EROFS)
    _raise_for_cache_paths(monkeypatch, os, "mkdir", root, errno.EROFS)
    return "Read-only file system"


def _no_space_on_write(root, monkeypatch):
    def full(dir_fd, name, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(safe_files, "write_file", full)
    return "No space left on device"


def _no_space_on_rename(root, monkeypatch):
    _raise_for_cache_paths(monkeypatch, os, "rename", root, errno.ENOSPC)
    return "No space left on device"


def _no_inodes_on_mkdtemp(root, monkeypatch):
    import tempfile

    real = tempfile.mkdtemp

    def full(*args, **kwargs):
        if _under(root, kwargs.get("dir", "")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", full)
    return "No space left on device"


def _symlinked_lock_file(root, monkeypatch):
    # The entry folder exists with its lock file a symlink (filelock opens it O_NOFOLLOW).
    real = ArtifactStore._make_private_dirs

    def plant(self, entry_parent):
        real(self, entry_parent)
        for rank in ("rank_0",):
            lock = entry_parent / f"{rank}.lock"
            if not lock.is_symlink():
                lock.symlink_to(root.parent / "elsewhere")

    monkeypatch.setattr(ArtifactStore, "_make_private_dirs", plant)
    return "Too many levels of symbolic links"


def _entry_vanishes_mid_publish(root, monkeypatch):
    real = os.rename

    def vanish(src, dst, *args, **kwargs):
        if _under(root, dst):
            shutil.rmtree(Path(dst).parent)  # another process removed the whole entry
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", vanish)
    return "No such file or directory"


def _unreadable_cache(root, monkeypatch):
    def denied(path, *, name=None, dir_fd=None):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(safe_files, "open_dir", denied)
    root.mkdir(parents=True)
    return "Permission denied"


def _unusable_signing_key(root, monkeypatch):
    key = root.parent / "shared-key"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("k" * 64)
    key.chmod(0o644)  # readable by others: whoever reads it can forge entries
    monkeypatch.setenv("AIRGRAPH_CACHE_KEY", str(key))
    return "gives group or others access"


CASES = {
    "cannot create the cache folder": (_file_in_place_of_the_dir, "Not a directory"),
    "read-only file system": (_read_only_file_system, "Read-only file system"),
    "no space on write": (_no_space_on_write, "No space left on device"),
    "no space on rename": (_no_space_on_rename, "No space left on device"),
    "no inodes for the temporary folder": (_no_inodes_on_mkdtemp, "No space left on device"),
    "symlinked lock file": (_symlinked_lock_file, "Too many levels of symbolic links"),
    "entry removed mid-publish": (_entry_vanishes_mid_publish, "No such file or directory"),
    "unreadable cache": (_unreadable_cache, "Permission denied"),
    "unusable signing key": (_unusable_signing_key, "gives group or others access"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_storage_failure_costs_the_cache_never_the_call(case, tmp_path, monkeypatch, caplog):
    root = tmp_path / "cache"
    make, reason = CASES[case]
    make(root, monkeypatch)
    with caplog.at_level(logging.WARNING, logger="airgraph.cache"):
        net, error = _call(root)
        assert error <= cache_models.ATOL
        cached = net.cached_forward
        assert cached.status == "compiled"
        # Later calls reuse the program compiled in memory.
        net(torch.randn(4, 8))
        assert cached.status == "compiled"
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings
    assert reason in warnings[0], warnings
    assert str(root) in warnings[0] or "signing key" in warnings[0], warnings


def test_no_space_during_publish_keeps_the_program_for_every_instance(
    tmp_path, monkeypatch, caplog
):
    root = tmp_path / "cache"
    _no_space_on_write(root, monkeypatch)
    with caplog.at_level(logging.WARNING, logger="airgraph.cache"):
        first, error = _call(root)
        assert error <= cache_models.ATOL
        second, error = _call(root)
        assert error <= cache_models.ATOL
    assert first.cached_forward.status == "compiled"
    # Bound to the first instance's program: no second compile, no disk.
    assert second.cached_forward.status == "hit"
    assert second.cached_forward._program.executable is first.cached_forward._program.executable
    assert not [p for p in root.rglob("*") if p.name.startswith(".rank_0.tmp-")]


_HOLD_LOCK = """
import sys, os, signal, filelock
lock = filelock.FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""


@pytest.mark.slow
def test_a_lock_held_by_a_stopped_process_costs_seconds(tmp_path, monkeypatch, caplog):
    root = tmp_path / "cache"
    probe = cache_models.build("linear", str(tmp_path / "probe"))
    probe(torch.randn(4, 8))  # the entry path of this key, under another root
    entry = root / probe.cached_forward.entry_dir.relative_to(tmp_path / "probe")
    entry.parent.mkdir(parents=True, mode=0o700)
    lock_file = entry.parent / f"{entry.name}.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(lock_file)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        deadline = time.monotonic() + 30
        while Path(f"/proc/{holder.pid}/stat").read_text().split()[2] != "T":
            assert time.monotonic() < deadline, "the lock holder did not stop"
            time.sleep(0.05)
        monkeypatch.setenv("AIRGRAPH_CACHE_LOCK_TIMEOUT", "1")
        net = cache_models.build("linear", str(root))
        x = torch.randn(4, 8)
        start = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="airgraph.cache"):
            got = net(x)
        waited = time.monotonic() - start
        with torch.inference_mode():
            assert cache_models.max_error(got, net._forward(x)) <= cache_models.ATOL
        assert net.cached_forward.status == "compiled"
        assert holder.poll() is None, "the holder must still be alive (stopped)"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and str(lock_file) in warnings[0], warnings
    assert "lock not acquired in time" in warnings[0]
    assert waited < 60, f"waited {waited:.0f} s"


def test_lock_timeout_is_bounded_by_default_and_configurable(tmp_path, monkeypatch):
    monkeypatch.delenv("AIRGRAPH_CACHE_LOCK_TIMEOUT", raising=False)
    assert ArtifactStore(tmp_path).lock_timeout <= 30
    monkeypatch.setenv("AIRGRAPH_CACHE_LOCK_TIMEOUT", "2.5")
    assert ArtifactStore(tmp_path).lock_timeout == 2.5
    monkeypatch.setenv("AIRGRAPH_CACHE_LOCK_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="AIRGRAPH_CACHE_LOCK_TIMEOUT"):
        ArtifactStore(tmp_path)
    with pytest.raises(ValueError, match="lock_timeout"):
        ArtifactStore(tmp_path, lock_timeout=-1)


# -- many instances ------------------------------------------------------------------------


def test_ten_instances_share_one_compiled_program(tmp_path, caplog):
    root = tmp_path / "cache"
    with caplog.at_level(logging.WARNING, logger="airgraph.cache"):
        runs = [_call(root) for _ in range(10)]
    assert all(error <= cache_models.ATOL for _, error in runs)
    statuses = [net.cached_forward.status for net, _ in runs]
    assert statuses == ["compiled"] + ["hit"] * 9
    executables = {id(net.cached_forward._program.executable) for net, _ in runs}
    assert len(executables) == 1
    assert _warnings(caplog) == []


def test_ten_instances_with_an_unusable_cache_compile_once(tmp_path, caplog):
    root = tmp_path / "cache"
    _file_in_place_of_the_dir(root, None)
    with caplog.at_level(logging.WARNING, logger="airgraph.cache"):
        runs = [_call(root) for _ in range(10)]
    assert all(error <= cache_models.ATOL for _, error in runs)
    assert [net.cached_forward.status for net, _ in runs] == ["compiled"] + ["hit"] * 9
    # The other instances bind to the first one's program without touching the disk.
    assert len(_warnings(caplog)) == 1


@pytest.mark.slow
def test_ten_instances_of_different_keys_never_hit_the_recompile_limit(tmp_path):
    # Ten different weight shapes: ten keys, ten compiles of the same method in one process
    # (Dynamo's limit is 8 per code object; fullgraph=True turns the 9th into an error).
    runs = [_call(tmp_path / "cache", out_features=2 + i) for i in range(10)]
    assert all(error <= cache_models.ATOL for _, error in runs)
    assert [net.cached_forward.status for net, _ in runs] == ["compiled"] * 10


def test_fresh_method_keeps_the_method_but_not_the_code_object():
    net = cache_models.build("linear", "unused")
    copy = sharing.fresh_method(net._forward)
    assert copy.__func__.__code__ is not net._forward.__func__.__code__
    assert copy.__func__.__code__ == net._forward.__func__.__code__
    assert copy.__self__ is net and copy.__qualname__ == net._forward.__qualname__
    x = torch.randn(2, 8)
    with torch.inference_mode():
        assert torch.equal(copy(x), net._forward(x))


# -- an entry that loads but fails when run ------------------------------------------------


@pytest.mark.slow
def test_an_entry_failing_when_run_is_discarded_and_rebuilt_once(tmp_path):
    import json

    from airgraph_cache import signing
    from airgraph_cache.manifest import manifest_checksum

    cache_dir = str(tmp_path / "cache")
    cold = cache_models.run_in_subprocess(
        "call", compiler=True, cache_dir=cache_dir, model="linear"
    )
    entry = Path(cold["entry"])
    program = json.loads((entry / "program.json").read_text())
    # A signed entry (the user's own writer) whose program returns an output the graph
    # does not have: it loads, and fails when run.
    assert program["outputs"]["leaves"] == [["out", 0]], program["outputs"]
    program["outputs"]["leaves"] = [["out", 7]]
    data = json.dumps(program).encode()
    (entry / "program.json").write_bytes(data)
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["files"]["program.json"] = {
        "size": len(data),
        "sha256": __import__("hashlib").sha256(data).hexdigest(),
    }
    manifest["checksum"] = manifest_checksum(manifest)
    text = json.dumps(manifest).encode()
    (entry / "manifest.json").write_bytes(text)
    location = f"{entry.parent.name}/{entry.name}"
    (entry / "manifest.sig").write_bytes(signing.sign_manifest(signing.load_key(), location, text))

    broken = cache_models.run_in_subprocess(
        "call", compiler=True, cache_dir=cache_dir, model="linear", calls=2
    )
    assert broken["error"] <= cache_models.ATOL
    assert broken["status"] == "compiled", broken["stderr"]
    warnings = [line for line in broken["stderr"].splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, broken["stderr"]
    assert "failed when run" in warnings[0] or "is unusable" in warnings[0], warnings
    rebuilt = cache_models.run_in_subprocess(
        "call", compiler=True, cache_dir=cache_dir, model="linear"
    )
    assert rebuilt["status"] == "hit", rebuilt["stderr"]
    assert "WARNING" not in rebuilt["stderr"], rebuilt["stderr"]

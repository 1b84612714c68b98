"""Forged entries: whoever can write to the cache but lacks the user's key gets nothing loaded.

Each forgery keeps the entry self-consistent with the project's own manifest
code (sizes, sha256s and the manifest checksum recomputed), as an attacker
with write access would; only the signature (``manifest.sig``, keyed by a
secret outside the cache) tells it apart. Every run is a fresh process.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import cache_models
import fresh_python
import pytest

from airgraph_cache import signing
from airgraph_cache.manifest import manifest_checksum

OPTIONS = {"model": "linear", "ge_cache": True}
OTHER = {"model": "dict_out", "ge_cache": True}


def _entry_of(result: dict) -> Path:
    return Path(result["entry"])


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Two ge_cache entries (host packages included), of two models, one cold start each."""
    root = tmp_path_factory.mktemp("published")
    jobs = [
        ("call", {"cache_dir": str(root / "mine"), **OPTIONS}),
        ("call", {"cache_dir": str(root / "other"), **OTHER}),
    ]
    mine, other = cache_models.run_many(jobs, timeout=900, compiler=True)
    for result in (mine, other):
        assert result["status"] == "compiled", result["stderr"]
        assert (_entry_of(result) / "host_0.pt2").exists(), sorted(_entry_of(result).iterdir())
    return root, _entry_of(mine), _entry_of(other)


def _replace_files(entry: Path, new: dict[str, bytes]) -> None:
    """Write ``new`` into the entry and recompute the manifest as the project's code does."""
    manifest = json.loads((entry / "manifest.json").read_text())
    for name, data in new.items():
        (entry / name).write_bytes(data)
        manifest["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest["checksum"] = manifest_checksum(manifest)
    (entry / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def _edit_graph(entry: Path, other: Path, root: Path) -> None:
    from airgraph_core import deserialize, serialize

    graph = deserialize((entry / "graph.pb").read_bytes())
    relus = [op for op in graph.ops if op.type == "Relu"]
    assert relus, [op.type for op in graph.ops]
    for op in relus:
        object.__setattr__(op, "type", "Abs")
    _replace_files(entry, {"graph.pb": serialize(graph)})


def _foreign_graph(entry: Path, other: Path, root: Path) -> None:
    _replace_files(entry, {"graph.pb": (other / "graph.pb").read_bytes()})


def _foreign_package(entry: Path, other: Path, root: Path) -> None:
    _replace_files(entry, {"host_0.pt2": (other / "host_0.pt2").read_bytes()})


def _foreign_entry(entry: Path, other: Path, root: Path) -> None:
    # Another model's entry, signed with the user's key, moved under this key.
    shutil.rmtree(entry)
    shutil.copytree(other, entry)


def _edit_program(entry: Path, other: Path, root: Path) -> None:
    program = json.loads((entry / "program.json").read_text())
    program["inputs"] = list(reversed(program["inputs"]))
    _replace_files(entry, {"program.json": json.dumps(program).encode()})


def _signed_with_another_key(entry: Path, other: Path, root: Path) -> None:
    _edit_graph(entry, other, root)
    location = f"{entry.parent.name}/{entry.name}"
    data = (entry / "manifest.json").read_bytes()
    (entry / "manifest.sig").write_bytes(signing.sign_manifest(b"k" * 64, location, data))


def _constructor_package(entry: Path, other: Path, root: Path) -> None:
    _replace_files(entry, {"host_0.pt2": _package_running(root / "marker", root)})


FORGERIES = {
    "graph.pb edited (Relu -> Abs)": _edit_graph,
    "another model's graph.pb": _foreign_graph,
    "another model's host_0.pt2": _foreign_package,
    "another model's whole entry": _foreign_entry,
    "program.json edited": _edit_program,
    "signed with another key": _signed_with_another_key,
    "host_0.pt2 with an ELF constructor": _constructor_package,
}


# -- a package whose shared library runs code when loaded ---------------------------------


def _constructor_library(marker: Path, folder: Path) -> bytes:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is missing: cannot build the shared library with a constructor")
    source = folder / "ctor.c"
    source.write_text(
        "#include <stdio.h>\n"
        "__attribute__((constructor)) static void ctor(void) {\n"
        f'    FILE *f = fopen("{marker}", "w"); if (f) {{ fputs("ran", f); fclose(f); }}\n'
        "}\n"
    )
    library = folder / "ctor.so"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True, timeout=120
    )
    return library.read_bytes()


def _package_running(marker: Path, folder: Path) -> bytes:
    """A copy of a real package of this entry whose shared libraries are the constructor's."""
    library = _constructor_library(marker, folder)
    real = next(folder.glob("cache/**/host_0.pt2")).read_bytes()
    out = io.BytesIO()
    replaced = 0
    with zipfile.ZipFile(io.BytesIO(real)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith(".so"):
                data, replaced = library, replaced + 1
            target.writestr(info, data)
    assert replaced, [i.filename for i in zipfile.ZipFile(io.BytesIO(real)).infolist()]
    return out.getvalue()


_LOAD_PACKAGE = """
import sys, torch
loader = torch._C._aoti.AOTIModelPackageLoader(sys.argv[1], "model", False, 1, -1)
"""


@pytest.mark.slow
def test_the_constructor_package_is_live(tmp_path, published):
    """Control: loaded directly, the crafted package really runs its constructor."""
    root, mine, _ = published
    shutil.copytree(root / "mine", tmp_path / "cache")
    marker = tmp_path / "marker"
    package = tmp_path / "crafted.pt2"
    package.write_bytes(_package_running(marker, tmp_path))
    fresh_python.run(
        [sys.executable, "-c", _LOAD_PACKAGE, str(package)],
        capture_output=True,
        timeout=300,
        env=cache_models.child_env(),
    )
    assert marker.exists(), "the constructor did not run: the control is broken"


# -- the forgeries, in fresh processes -----------------------------------------------------


@pytest.fixture(scope="module")
def forged(published, tmp_path_factory):
    root, mine, other = published
    cases = {}
    for case, forge in FORGERIES.items():
        folder = tmp_path_factory.mktemp("forged")
        shutil.copytree(root / "mine", folder / "cache")
        entry = folder / "cache" / mine.relative_to(root / "mine")
        if case == "host_0.pt2 with an ELF constructor" and shutil.which("gcc") is None:
            continue
        forge(entry, other, folder)
        cases[case] = {"folder": folder, "entry": entry}
    jobs = [("call", {"cache_dir": str(c["folder"] / "cache"), **OPTIONS}) for c in cases.values()]
    for c, result in zip(
        cases.values(), cache_models.run_many(jobs, parallel=2, timeout=900, compiler=True)
    ):
        c["first"] = result
    jobs = [("call", {"cache_dir": str(c["folder"] / "cache"), **OPTIONS}) for c in cases.values()]
    for c, result in zip(
        cases.values(), cache_models.run_many(jobs, parallel=2, timeout=900, compiler=True)
    ):
        c["second"] = result
    return cases


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(FORGERIES))
def test_forged_entry_is_refused_rebuilt_and_results_stay_right(forged, case):
    if case not in forged:
        pytest.skip("gcc is missing: cannot build the shared library with a constructor")
    c = forged[case]
    first, second = c["first"], c["second"]
    assert first["status"] == "compiled", first["stderr"]
    assert first["error"] <= cache_models.ATOL
    warnings = [line for line in first["stderr"].splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, first["stderr"]
    assert "not signed with your key" in warnings[0] or "key digest" in warnings[0], warnings
    # Rebuilt and signed: the next start hits, silently.
    assert second["status"] == "hit", second["stderr"]
    assert second["error"] <= cache_models.ATOL
    assert "WARNING" not in second["stderr"], second["stderr"]
    assert not (c["folder"] / "marker").exists(), "native code of a forged entry ran"


@pytest.mark.slow
def test_an_edit_signed_with_the_users_key_would_load(published, tmp_path):
    """Control: the edited graph, signed with the user's own key, is loaded (and is wrong),
    so what refuses the forgeries above is the signature alone."""
    root, mine, other = published
    shutil.copytree(root / "mine", tmp_path / "cache")
    entry = tmp_path / "cache" / mine.relative_to(root / "mine")
    _edit_graph(entry, other, tmp_path)
    location = f"{entry.parent.name}/{entry.name}"
    data = (entry / "manifest.json").read_bytes()
    key = signing.load_key()
    (entry / "manifest.sig").write_bytes(signing.sign_manifest(key, location, data))
    result = cache_models.run_in_subprocess(
        "call", compiler=True, cache_dir=str(tmp_path / "cache"), **OPTIONS
    )
    assert result["status"] == "hit", result["stderr"]


@pytest.mark.slow
def test_a_ge_cache_warm_start_leaves_no_extracted_package(published, tmp_path, monkeypatch):
    # Note: with torch 2.13 here the loader removes its own folder when the process exits
    # normally, so this passes without private_extraction_dir too; it guards the promise.
    root, mine, _ = published
    shutil.copytree(root / "mine", tmp_path / "cache")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    result = cache_models.run_in_subprocess(
        "call", compiler=True, cache_dir=str(tmp_path / "cache"), **OPTIONS
    )
    assert result["status"] == "hit", result["stderr"]
    assert result["error"] <= cache_models.ATOL
    assert sorted(os.listdir(scratch)) == []

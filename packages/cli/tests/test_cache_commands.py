"""``airgraph cache verify|clear|prune|export|import`` and the usage columns of ``cache ls``."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import textwrap

import fresh_python
import pytest

from airgraph_cli.main import main

DIGEST = "ab" * 32


@pytest.fixture(autouse=True)
def signing_key(tmp_path_factory, monkeypatch):
    """Every test signs with a key of its own (never the real ``~/.config/airgraph/key``)."""
    path = tmp_path_factory.mktemp("keys") / "mine"
    monkeypatch.setenv("AIRGRAPH_CACHE_KEY", str(path))
    return path


def _publish(root, name="Model__forward_abababababababab", rank=0, size=1000, digest=DIGEST):
    from airgraph_cache import ArtifactStore, rank_folder

    store = ArtifactStore(root)
    path = store.root / name / rank_folder(rank)
    fields = {"key": {"method": "_forward", "model_class": "m.Model"}, "key_digest": digest}
    assert store.publish(path, {"graph.pb": b"g" * size}, fields)
    return path


def test_ls_shows_last_use_and_hits(tmp_path, capsys):
    from airgraph_cache import ArtifactStore

    used = _publish(tmp_path, "M_used_1111111111111111")
    _publish(tmp_path, "M_idle_2222222222222222")
    for _ in range(2):
        assert ArtifactStore(tmp_path).load(used) is not None
    assert main(["cache", "ls", str(tmp_path), "--json"]) == 0
    rows = {row["entry"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["M_used_1111111111111111"]["hits"] == 2
    assert rows["M_used_1111111111111111"]["last_use_seconds"] >= 0
    assert rows["M_idle_2222222222222222"]["hits"] == 0
    assert rows["M_idle_2222222222222222"]["last_use_seconds"] is None
    assert main(["cache", "ls", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "last use" in out and "hits" in out and "never" in out
    (used / "graph.pb").write_bytes(b"G" * 1000)
    assert main(["cache", "ls", str(tmp_path), "--verify", "--json"]) == 0
    rows = {row["entry"]: row["verifies"] for row in json.loads(capsys.readouterr().out)}
    assert rows == {"M_used_1111111111111111": "damaged", "M_idle_2222222222222222": "ok"}
    assert main(["cache", "ls", str(tmp_path), "--verify"]) == 0
    assert "verifies" in capsys.readouterr().out


def test_verify_reports_each_entry_and_fails_on_a_damaged_one(tmp_path, capsys):
    good = _publish(tmp_path, "M_good_1111111111111111")
    bad = _publish(tmp_path, "M_bad_2222222222222222")
    assert main(["cache", "verify", str(tmp_path)]) == 0
    assert "2 of 2 rank folders verify" in capsys.readouterr().out
    (bad / "graph.pb").write_bytes(b"G" * 1000)
    assert main(["cache", "verify", str(tmp_path), "--json"]) == 1
    rows = {row["entry"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[f"{good.parent.name}/rank_0"]["status"] == "ok"
    assert rows[f"{bad.parent.name}/rank_0"]["status"] == "damaged"
    assert "sha256 differs" in rows[f"{bad.parent.name}/rank_0"]["problem"]
    assert (bad / "graph.pb").exists()  # verify changes nothing


def test_verify_names_entries_not_signed_with_your_key(tmp_path, capsys, monkeypatch):
    entry = _publish(tmp_path)
    monkeypatch.setenv("AIRGRAPH_CACHE_KEY", str(tmp_path / "keys" / "someone-else"))
    from airgraph_cache import signing

    signing.load_key(create=True)
    assert main(["cache", "verify", str(tmp_path), "--json"]) == 1
    (row,) = json.loads(capsys.readouterr().out)
    assert row["entry"] == f"{entry.parent.name}/rank_0" and row["status"] == "unsigned"


def test_clear_needs_yes_and_removes_what_is_named(tmp_path, capsys):
    a = _publish(tmp_path, "M_a_1111111111111111", digest="11" * 32)
    b = _publish(tmp_path, "M_b_2222222222222222", digest="22" * 32)
    c = _publish(tmp_path, "M_c_3333333333333333", digest="33" * 32)
    assert main(["cache", "clear", str(tmp_path)]) == 1  # stdin is not a terminal
    assert "pass --yes to confirm" in capsys.readouterr().err
    assert a.exists() and b.exists() and c.exists()
    assert main(["cache", "clear", str(tmp_path), "--entry", "M_a_1111111111111111", "--yes"]) == 0
    assert main(["cache", "clear", str(tmp_path), "--key", "222222", "--yes"]) == 0
    assert not a.exists() and not b.exists() and c.exists()
    assert not a.parent.exists()  # the emptied entry folder goes too
    assert main(["cache", "clear", str(tmp_path), "--yes", "--json"]) == 0
    capsys.readouterr()
    assert not c.exists() and os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--entry", "Nope_x_0000000000000000"],
            "--entry 'Nope_x_0000000000000000': no such entry",
        ),
        (["--key", "zz"], "--key 'zz': expected 6 to 64 lowercase hex digits"),
        (["--key", "999999"], "--key '999999': no entry with such a key digest"),
    ],
)
def test_clear_selectors_that_match_nothing_are_named(tmp_path, capsys, argv, message):
    entry = _publish(tmp_path)
    assert main(["cache", "clear", str(tmp_path), *argv, "--yes"]) == 1
    assert message in capsys.readouterr().err
    assert entry.exists()


def test_prune_keeps_recently_used_entries(tmp_path, capsys):
    from airgraph_cache import ArtifactStore

    old = _publish(tmp_path, "M_old_1111111111111111")
    recent = _publish(tmp_path, "M_recent_2222222222222222")
    published_long_ago = 1_000_000.0
    for rank in (old, recent):
        os.utime(rank / "manifest.json", (published_long_ago, published_long_ago))
    ArtifactStore(tmp_path).load(recent)  # used just now
    assert main(["cache", "prune", str(tmp_path), "--older-than", "1d", "--dry-run"]) == 0
    assert "would remove M_old_1111111111111111/rank_0" in capsys.readouterr().out
    assert old.exists()
    assert main(["cache", "prune", str(tmp_path), "--older-than", "1d", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["entry"] for row in report["removed"]] == ["M_old_1111111111111111/rank_0"]
    assert not old.exists() and recent.exists()


def test_prune_by_size_removes_least_recently_used_first(tmp_path, capsys):
    from airgraph_cache import ArtifactStore

    ranks = [_publish(tmp_path, f"M_{n}_{str(i) * 16}", size=10_000) for i, n in enumerate("abc")]
    for i, rank in enumerate(ranks):  # a used first, then c, then b: b is least recently used
        os.utime(rank / "manifest.json", (1000 + i, 1000 + i))
    store = ArtifactStore(tmp_path)
    store.load(ranks[0])
    store.load(ranks[2])
    assert main(["cache", "prune", str(tmp_path), "--max-size", "25KiB"]) == 0
    assert "removed 1 of 3 rank folders" in capsys.readouterr().out
    assert [r.exists() for r in ranks] == [True, False, True]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give --older-than DURATION, --max-size SIZE or both"),
        (["--older-than", "soon"], "--older-than: got 'soon', expected a duration"),
        (["--max-size", "big"], "--max-size: got 'big', expected a size"),
    ],
)
def test_prune_errors_name_the_option(tmp_path, capsys, argv, message):
    _publish(tmp_path)
    assert main(["cache", "prune", str(tmp_path), *argv]) == 1
    assert message in capsys.readouterr().err


def test_export_import_round_trip_and_refusals(tmp_path, capsys, monkeypatch):
    entry = _publish(tmp_path / "a")
    archive = tmp_path / "out.tar"
    assert main(["cache", "export", str(tmp_path / "a"), "-o", str(archive)]) == 0
    assert "exported 1 rank folder" in capsys.readouterr().out
    assert main(["cache", "import", str(archive), str(tmp_path / "b"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["installed"] == [f"{entry.parent.name}/rank_0"]
    assert main(["cache", "verify", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    # On a machine with another key: refused unless the exporter's key or --trust is given.
    exporter_key = os.environ["AIRGRAPH_CACHE_KEY"]
    monkeypatch.setenv("AIRGRAPH_CACHE_KEY", str(tmp_path / "keys" / "theirs"))
    assert main(["cache", "import", str(archive), str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert "not signed with your key" in err and "nothing was installed" in err
    assert (
        main(["cache", "import", str(archive), str(tmp_path / "c"), "--exporter-key", exporter_key])
        == 0
    )
    assert "re-signed with your key" in capsys.readouterr().out
    assert main(["cache", "verify", str(tmp_path / "c")]) == 0
    assert main(["cache", "import", str(archive), str(tmp_path / "d"), "--trust"]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "cache",
                "import",
                str(archive),
                str(tmp_path / "e"),
                "--exporter-key",
                str(tmp_path / "nokey"),
            ]
        )
        == 1
    )
    assert "--exporter-key" in capsys.readouterr().err


def test_import_refuses_tampered_and_traversing_archives(tmp_path, capsys):
    entry = _publish(tmp_path / "a")
    archive = tmp_path / "out.tar"
    assert main(["cache", "export", str(tmp_path / "a"), "-o", str(archive)]) == 0
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    where = f"{entry.parent.name}/rank_0"

    def write(items, name):
        path = tmp_path / name
        with tarfile.open(path, "w") as tar:
            for member, data in items.items():
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return path

    tampered = dict(members)
    tampered[f"{where}/graph.pb"] = b"h" * 1000
    assert (
        main(["cache", "import", str(write(tampered, "t.tar")), str(tmp_path / "b"), "--trust"])
        == 1
    )
    assert "tampered" in capsys.readouterr().err
    traversing = {**members, f"{where}/../../../escaped": b"x"}
    assert (
        main(["cache", "import", str(write(traversing, "p.tar")), str(tmp_path / "b"), "--trust"])
        == 1
    )
    assert "'..' are refused" in capsys.readouterr().err
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "b").exists()
    assert main(["cache", "import", str(tmp_path / "missing.tar")]) == 1
    assert "is not a file" in capsys.readouterr().err


_MODEL = textwrap.dedent(
    """
    import json, sys
    import torch
    import airgraph as torchair

    class Model(torch.nn.Module):
        def __init__(self, root):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)
            config = torchair.CompilerConfig()
            config.airgraph_config.host_mode = "interpret"
            self.cached = torchair.inference.cache_compile(
                self._forward, config=config, cache_dir=root
            )

        def forward(self, x):
            return self.cached(x)

        def _forward(self, x):
            return torch.relu(self.lin(x))

    torch.manual_seed(0)
    model = Model(sys.argv[1]).eval()
    x = torch.randn(2, 4)
    out = model(x)
    with torch.no_grad():
        error = float((out - model._forward(x)).abs().max())
    print(json.dumps({"status": model.cached.status, "error": error}))
    """
)


@pytest.mark.slow
def test_an_exported_entry_hits_after_import_on_another_path(tmp_path):
    """Fresh processes: a cold start, export, import elsewhere, a warm start that hits there."""
    script = tmp_path / "model.py"
    script.write_text(_MODEL)
    env = {**os.environ, "TORCH_DEVICE_BACKEND_AUTOLOAD": "0"}

    def run(*argv):
        # The model script forks from a preloaded server; ``-m airgraph_cli`` runs for real.
        result = fresh_python.run(
            [sys.executable, *argv],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            preload=fresh_python.COMPILER,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    def start(root):
        return json.loads(run(str(script), str(root)).stdout.strip().splitlines()[-1])

    first = start(tmp_path / "built")
    assert first["status"] == "compiled" and first["error"] <= 1e-5
    cli = ["-m", "airgraph_cli", "cache"]
    run(*cli, "export", str(tmp_path / "built"), "-o", str(tmp_path / "cache.tar.gz"))
    run(*cli, "import", str(tmp_path / "cache.tar.gz"), str(tmp_path / "deployed"))
    warm = start(tmp_path / "deployed")
    assert warm["status"] == "hit" and warm["error"] <= 1e-5
    listing = json.loads(run(*cli, "ls", str(tmp_path / "deployed"), "--json").stdout)
    assert [row["hits"] for row in listing] == [1]

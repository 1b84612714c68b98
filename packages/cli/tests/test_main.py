"""The ``airgraph`` command: argument handling and output."""

import subprocess
import sys

import pytest

from airgraph_cli.main import DISTRIBUTIONS, main


def test_version_lists_every_distribution(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    for dist in DISTRIBUTIONS:
        assert dist in out
    assert "airgraph-cli" in out and "0.1.0" in out


def test_version_runs_as_a_process():
    result = subprocess.run(
        [sys.executable, "-m", "airgraph_cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "airgraph-core" in result.stdout


def test_no_command_prints_usage_and_fails(capsys):
    assert main([]) == 2
    assert "usage: airgraph" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as excinfo:
        main(["frobnicate"])
    assert excinfo.value.code == 2


def test_ops_prints_the_support_table(capsys):
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    assert "|" in out  # a markdown table

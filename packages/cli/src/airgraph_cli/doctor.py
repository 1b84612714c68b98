"""``airgraph doctor``: what airgraph finds on this machine and which target it would use."""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import stat
import sys
from dataclasses import asdict, dataclass
from typing import Annotated

import typer

from airgraph_cli._console import EXIT_USER_ERROR, console, print_json

__all__ = ["Finding", "diagnose", "doctor_command"]


@dataclass
class Finding:
    """One line of the doctor's report: ``status`` is ``ok``, ``info``, ``warn`` or ``fail``."""

    topic: str
    status: str
    detail: str


def _packages() -> list[Finding]:
    from airgraph_cli.main import installed_versions

    found = []
    for name, version in installed_versions().items():
        if name == "torch_npu":
            continue
        status = "ok" if version else ("fail" if name in ("torch", "airgraph-core") else "info")
        found.append(Finding(name, status, version or "not installed"))
    numpy = importlib.util.find_spec("numpy") is not None
    found.append(
        Finding(
            "numpy",
            "ok" if numpy else "warn",
            "installed"
            if numpy
            else "not installed: `import torch` warns 'Failed to initialize "
            "NumPy' (pip install numpy, or install the airgraph meta-package)",
        )
    )
    return found


def _npu() -> list[Finding]:
    from airgraph_cache import cann_version

    found = []
    has_torch_npu = importlib.util.find_spec("torch_npu") is not None
    found.append(
        Finding(
            "torch_npu",
            "ok" if has_torch_npu else "info",
            "installed" if has_torch_npu else "not installed",
        )
    )
    cann = cann_version()
    home = os.environ.get("ASCEND_TOOLKIT_HOME") or os.environ.get("ASCEND_HOME_PATH")
    found.append(
        Finding(
            "CANN",
            "ok" if cann else "info",
            f"{cann} ({home or '/usr/local/Ascend/ascend-toolkit/latest'})"
            if cann
            else "not found",
        )
    )
    from airgraph_dynamo.targets import npu_available

    if npu_available():
        import torch

        found.append(Finding("NPU", "ok", f"{torch.npu.device_count()} device(s) visible"))
        found.append(
            Finding("target auto", "ok", "npu: torch_npu is installed and an NPU is visible")
        )
    else:
        why = (
            "torch_npu is not installed" if not has_torch_npu else "no NPU is visible to torch_npu"
        )
        found.append(Finding("NPU", "info", why))
        found.append(
            Finding(
                "target auto",
                "ok",
                f"host: {why}; the host target runs the same GE graph on the CPU",
            )
        )
    return found


def _inductor() -> list[Finding]:
    from airgraph_cli import _torch_compat

    found = []
    where = _torch_compat.inductor_cache_dir()
    source = "TORCHINDUCTOR_CACHE_DIR" if "TORCHINDUCTOR_CACHE_DIR" in os.environ else "default"
    warm = False
    if os.path.isdir(where):
        with os.scandir(where) as entries:  # closed: an open iterator warns (ResourceWarning)
            warm = any(entries)
    found.append(
        Finding(
            "Inductor cache",
            "ok",
            f"{where} ({source}; {'has content' if warm else 'empty: the first compile probes the CPU, ~10 s'})",
        )
    )
    wanted = _torch_compat.inductor_cxx()
    compiler = shutil.which(wanted or "g++")
    found.append(
        Finding(
            "C++ compiler",
            "ok" if compiler else "warn",
            compiler
            or f"{wanted!r} not on PATH: host_mode='inductor' cannot compile; "
            "host_mode='interpret' still works",
        )
    )
    found.append(Finding("CPU threads", "info", str(__import__("torch").get_num_threads())))
    return found


def _cache_dir(path: str) -> Finding:
    if not os.path.exists(path):
        parent = os.path.dirname(os.path.abspath(path))
        writable = os.access(parent, os.W_OK)
        return Finding(
            "compile cache",
            "ok" if writable else "warn",
            f"{path} does not exist yet; {parent} is {'writable' if writable else 'NOT writable'}",
        )
    info = os.stat(path)
    problems = []
    if info.st_uid != os.geteuid():
        problems.append(f"owned by uid {info.st_uid}, not you ({os.geteuid()})")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problems.append(f"writable by group or others (mode {stat.filemode(info.st_mode)})")
    if problems:
        return Finding(
            "compile cache", "warn", f"{path}: {'; '.join(problems)}: cache_compile will refuse it"
        )
    return Finding("compile cache", "ok", f"{path}: yours, mode {stat.filemode(info.st_mode)}")


def diagnose(cache_dir: str) -> list[Finding]:
    """Every finding of ``airgraph doctor``, in report order."""
    found = [Finding("Python", "info", f"{platform.python_version()} ({sys.executable})")]
    found += _packages()
    if not any(f.topic == "torch" and f.status == "ok" for f in found):
        return found
    found += _npu()
    found += _inductor()
    found.append(_cache_dir(cache_dir))
    return found


_STYLE = {"ok": "green", "info": "cyan", "warn": "yellow", "fail": "red"}


def doctor_command(
    cache_dir: Annotated[
        str, typer.Option(help="the cache_compile root to check")
    ] = ".torchair_cache",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Report torch, airgraph, torch_npu, CANN, the target `auto` picks, Inductor and the cache."""
    found = diagnose(cache_dir)
    if as_json:
        print_json([asdict(f) for f in found])
    else:
        from rich.table import Table

        table = Table("", "", "", box=None, show_header=False, padding=(0, 1))
        for f in found:
            table.add_row(f.topic, f"[{_STYLE[f.status]}]{f.status}[/]", f.detail)
        console().print(table)
    if any(f.status == "fail" for f in found):
        raise typer.Exit(EXIT_USER_ERROR)

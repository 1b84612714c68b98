"""Developer and CI tasks. Run ``python3 -m nox -l`` to list them.

Every session builds a fresh pip venv, installs torch 2.13.0 first (so pip
never swaps in another torch build), then the airgraph packages from this
working tree.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint"]

PYTHON = "3.11"
TORCH = "torch==2.13.0"

# Lowest layer first; each package depends only on the ones before it.
# short session name -> (folder under packages/, import name)
PACKAGES = {
    "core": ("core", "airgraph_core"),
    "gears": ("gears", "airgraph_gears"),
    "dynamo": ("dynamo_backend", "airgraph_dynamo"),
    "cache": ("cache", "airgraph_cache"),
    "cli": ("cli", "airgraph_cli"),
}
META = "airgraph"

# Keeps an installed torch_npu from being auto-imported (and failing) by ``import torch``.
TEST_ENV = {"TORCH_DEVICE_BACKEND_AUTOLOAD": "0"}


def _requirement(folder: str, extra: str = "test", editable: bool = False) -> list[str]:
    spec = f"./packages/{folder}[{extra}]" if extra else f"./packages/{folder}"
    return ["-e", spec] if editable else [spec]


def _install_packages(
    session: nox.Session, folders: list[str], *, editable: bool = False, extra: str = "test"
) -> None:
    """Install torch, then the given packages in one pip call (siblings resolve locally)."""
    session.install(TORCH)
    args: list[str] = []
    for folder in folders:
        args += _requirement(folder, extra, editable)
    session.install(*args)


def _all_folders() -> list[str]:
    return [folder for folder, _ in PACKAGES.values()] + [META]


def _test_env(session: nox.Session) -> dict[str, str]:
    # One Inductor cache for the whole run: a fresh cache dir costs ~11 s of gcc probing.
    cache_dir = os.path.join(session.create_tmp(), "inductor-cache")
    return {**TEST_ENV, "TORCHINDUCTOR_CACHE_DIR": cache_dir}


# Parallel runs: one pytest-xdist worker per CPU; a test file stays on one worker (module
# fixtures build cache entries once; test_view_outputs counts its outcomes per module).
# Files are handed out in the order the root conftest.py gives them (longest first, by
# measured CPU seconds), not by test count: a long file with few tests started last
# would run alone at the end.
# The workers already fill the CPUs, so each compiles and computes on one thread: no
# Inductor compile-worker pool per process, no OpenMP oversubscription.
XDIST = ["--numprocesses=auto", "--dist=loadfile", "--no-loadscope-reorder"]
XDIST_ENV = {"TORCHINDUCTOR_COMPILE_THREADS": "1", "OMP_NUM_THREADS": "1"}


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run every package's tests and the cross-package tests in tests/ (all CPUs)."""
    _install_packages(session, _all_folders())
    # No paths given: pytest collects the testpaths of the root pyproject.toml.
    session.run("pytest", *XDIST, *session.posargs, env={**_test_env(session), **XDIST_ENV})


@nox.session(name="tests-fast", python=PYTHON)
def tests_fast(session: nox.Session) -> None:
    """The development lane: every test not marked slow, on all CPUs (under 2 minutes)."""
    _install_packages(session, _all_folders())
    session.run(
        "pytest",
        *XDIST,
        "-m",
        "not slow",
        *session.posargs,
        env={**_test_env(session), **XDIST_ENV},
    )


@nox.session(name="tests-dynamo-capture", python=PYTHON)
def tests_dynamo_capture(session: nox.Session) -> None:
    """The fast lane with every converter test captured through torch.compile (no AOT shortcut)."""
    _install_packages(session, _all_folders())
    env = {**_test_env(session), **XDIST_ENV, "AIRGRAPH_TEST_CAPTURE": "dynamo"}
    session.run("pytest", *XDIST, "-m", "not slow", *session.posargs, env=env)


def _package_tests_session(short: str, position: int) -> None:
    folder = PACKAGES[short][0]
    needed = [f for f, _ in list(PACKAGES.values())[: position + 1]]

    @nox.session(name=f"tests-{short}", python=PYTHON)
    def package_tests(session: nox.Session) -> None:
        _install_packages(session, needed)
        session.run("pytest", f"packages/{folder}/tests", *session.posargs, env=_test_env(session))

    package_tests.__doc__ = f"Run the tests of packages/{folder} only."


for _position, _short in enumerate(PACKAGES):
    _package_tests_session(_short, _position)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check lint and formatting with ruff (config in the root pyproject.toml)."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the docs site with mkdocs --strict into site/."""
    _install_packages(session, _all_folders(), editable=True, extra="")
    session.install("mkdocs-material", "mkdocstrings[python]")
    session.run("mkdocs", "build", "--strict", *session.posargs, env=TEST_ENV)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Run examples/demo.py against the installed meta-package."""
    _install_packages(session, _all_folders(), extra="")
    session.run("python", "examples/demo.py", *session.posargs, env=TEST_ENV)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks; results go to benchmarks/results/."""
    _install_packages(session, _all_folders(), extra="")
    session.run(
        "python",
        "benchmarks/run.py",
        "--out",
        "benchmarks/results",
        *session.posargs,
        env={**TEST_ENV, "TORCHINDUCTOR_CACHE_DIR": os.path.join(session.create_tmp(), "inductor")},
    )


@nox.session(python=PYTHON)
def opinfo(session: nox.Session) -> None:
    """Run the full OpInfo conformance run (every dtype, Dynamo, both host modes; hours)."""
    _install_packages(session, ["core"])
    session.run(
        "pytest",
        "packages/core/tests/test_opinfo_conformance.py",
        "-k",
        "test_opinfo_full",
        *session.posargs,
        env={**_test_env(session), "AIRGRAPH_OPINFO_FULL": "1"},
    )


@nox.session(name="cache-matrix", python=PYTHON)
def cache_matrix(session: nox.Session) -> None:
    """Cache and warm-start 5 transformers models in every option combination (hours).

    Cold then warm process per case; rewrites tools/cache_matrix/RESULTS.md
    without arguments (see docs/concepts/cache.md). Arguments go to tools/cache_matrix/run.py instead
    (e.g. ``nox -s cache-matrix -- --models bert -k inductor``: only prints).
    """
    _install_packages(session, _all_folders())
    args = list(session.posargs) or ["--results", "tools/cache_matrix/RESULTS.md"]
    session.run("python", "tools/cache_matrix/run.py", *args, env=_test_env(session))


@nox.session(python=PYTHON)
def proto(session: nox.Session) -> None:
    """Check that the generated GE protobuf modules match their .proto sources."""
    session.install("protobuf>=4.21", "grpcio-tools==1.53.2")
    session.run("python", "packages/core/tools/gen_proto.py", "--check", *session.posargs)


# TorchAir ships as Python inside the torch-npu wheel; the oracle tool in ../shared runs it on CPU.
ORACLE_REQUIREMENTS = [TORCH, "torch-npu==2.13.0", "protobuf", "packaging"]


@nox.session(python=PYTHON)
def oracle(session: nox.Session) -> None:
    """Compare airgraph's GE graphs with TorchAir's for tools/oracle/cases.py.

    Needs ``../shared/tools/torchair_oracle`` beside the repository (or
    ``AIRGRAPH_ORACLE_DIR``). Without arguments it runs every case and
    rewrites tools/oracle/RESULTS.md; arguments select cases by name pattern
    or family and only print (e.g. ``nox -s oracle -- 'softmax*' nn``).
    ``nox -s oracle -- --check tools/oracle/RESULTS.md`` (CI) fails when a
    case matches TorchAir less well than in the committed results.
    """
    _install_packages(session, ["core", "gears", "dynamo_backend"], extra="")
    # torch is named again so that torch-npu can never pull in another torch build.
    session.install(*ORACLE_REQUIREMENTS)
    args = list(session.posargs) or ["--results", "tools/oracle/RESULTS.md"]
    session.run("python", "tools/oracle/compare.py", *args, env=TEST_ENV)
    if not session.posargs or "--check" in session.posargs:
        # Gear options against TorchAir's own generator (a second, no compile).
        session.run("python", "tools/oracle/gear_options.py", env=TEST_ENV)


# Prints NPU_READY or the reason there is none; always exits 0 so nox can read it.
_NPU_PROBE = """
try:
    import torch
    import torch_npu  # noqa: F401
except Exception as error:
    print(f"torch_npu does not import ({type(error).__name__}: {error})")
else:
    print("NPU_READY" if torch.npu.is_available() else "torch_npu imports but finds no NPU")
"""


@nox.session(python=PYTHON)
def npu(session: nox.Session) -> None:
    """Run the tests marked npu; succeed with a message where there is no NPU."""
    _install_packages(session, _all_folders())
    # torch_npu has no wheel for every torch version or platform: a failed
    # install means "no NPU here", not a broken session.
    session.install(TORCH, *_requirement("core", "npu,test"), success_codes=[0, 1])
    # torch_npu must load here, so no TORCH_DEVICE_BACKEND_AUTOLOAD=0 in this session.
    probe = session.run("python", "-c", _NPU_PROBE, silent=True) or ""
    if "NPU_READY" not in probe:
        session.log(f"no NPU here: skipping npu tests ({probe.strip()})")
        return
    session.run("pytest", "-m", "npu", *session.posargs)

"""Fresh Python processes for tests, forked from a server that has already imported torch.

A test that checks behaviour across restarts (cache warm starts, a script's
exit code, a CLI run in its own interpreter) starts new Python processes, and
each one used to spend ~2.5 CPU seconds importing torch before doing any
work. :func:`run` is ``subprocess.run`` for ``[sys.executable, "-c", code,
...]`` and ``[sys.executable, script, ...]``: the child is forked from a long-lived server process (a
"zygote", one pair per pytest process) that imported :data:`PRELOAD` once,
then takes the request's environment, working directory, ``sys.argv``,
``sys.path[0]``, stdin/stdout/stderr and a fresh ``__main__``, runs the code
and exits through the interpreter's own shutdown (exit code, ``SystemExit``,
uncaught tracebacks, thread joins, ``atexit``, module teardown). The
caller gets a ``subprocess.CompletedProcess``; ``check`` raises
``CalledProcessError``; a ``timeout`` kills the child (SIGKILL) and raises
``TimeoutExpired``.

What a forked child shares with its server, and why it is still a fresh
process for what tests check:

- Modules imported by the preload (torch, numpy and what they import).
  Nothing of airgraph, Dynamo or Inductor is preloaded, so a test can still
  see whether a warm start imported Dynamo; a caller whose child compiles
  anyway may ask for :data:`COMPILER` too (``preload=``), a server of its own. The preload reads environment
  variables (``TORCH_LOGS``, ``OMP_NUM_THREADS``, ...) once: a request runs
  in a server started with the same environment, except the variables in
  :data:`IGNORED_ENV` (names the preload does not read, checked with torch
  2.13); any other difference runs a real process.
- The string hash seed. Two servers per environment take requests in turn,
  so consecutive processes of one test hash strings differently, as fresh
  processes do (a key built from a set's iteration order still fails a
  warm start). ``PYTHONHASHSEED`` in the request is part of the environment.
- Random state: ``random`` reseeds itself after a fork; numpy's global
  generator is reseeded in the child; torch's default generator is seeded
  from the OS in the child, as in a fresh process.

A real process is started instead (``subprocess.run``, same arguments) when
the command is anything else (``-m``, interpreter flags, console scripts,
another executable), when the platform has no ``fork``, when the preload started a
thread (OpenMP/OpenBLAS pools: set ``OMP_NUM_THREADS=1`` as the nox sessions
do), or when ``AIRGRAPH_TEST_FORK_SERVER=0``. Tests about the start of a
process itself (import-time warnings, console entry points) call
``subprocess`` directly.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import locale
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence

#: Modules every server imports before forking.
PRELOAD = ("torch",)
#: Extra preload for a process that will compile anyway (``run(..., preload=COMPILER)``):
#: Dynamo and Inductor's compile path, ~2 CPU-s of imports in each such child. Never for a
#: process that must show it did not import Dynamo (a warm start): it would see them imported.
COMPILER = ("torch._dynamo", "torch._inductor.compile_fx")
#: Environment variables that may differ between a request and its server: none of them is
#: read while importing :data:`PRELOAD` (pytest's own, airgraph's, Inductor's cache folder).
IGNORED_ENV = ("PYTEST_", "AIRGRAPH_", "TORCHINDUCTOR_CACHE_DIR")
#: ``AIRGRAPH_TEST_FORK_SERVER=0`` starts every process for real (to compare, or to debug).
SWITCH_ENV = "AIRGRAPH_TEST_FORK_SERVER"
#: Servers per environment, taking requests in turn (each has its own string hash seed).
SERVERS_PER_ENV = 2
#: An environment (with its preload) gets servers from its second request on (a one-off runs
#: for real); at most this many have servers, the least recently used one stops to make room.
MAX_ENVS = 4
#: CPU seconds and count of the children run through a server (they are not children of the
#: caller, so ``RUSAGE_CHILDREN`` misses them); for measuring test cost.
CHILD_CPU_SECONDS = [0.0]
CHILDREN = [0]

_HERE = os.path.dirname(os.path.abspath(__file__))
#: In a server: the warnings its preload raised, as text; each child prints them first.
_PRELOAD_WARNINGS: list[str] = []
_BOOT = (
    "import sys; base = sys.path[1:]; sys.path.insert(0, sys.argv[2]); import fresh_python; "
    "job = fresh_python._serve(sys.argv[1], base, sys.argv[3]); del fresh_python; job()"
)
_START_TIMEOUT = 300.0


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    input: str | bytes | None = None,
    capture_output: bool = False,
    text: bool = False,
    check: bool = False,
    preload: Sequence[str] = (),
) -> subprocess.CompletedProcess:
    """``subprocess.run`` for a Python command, forked from a preloaded server where possible.

    Args:
        argv: ``[sys.executable, "-c", code, *args]`` or ``[sys.executable, script, *args]``;
            anything else (``-m``, interpreter flags, another program) runs as a real process.
        env, cwd, timeout, input, capture_output, text, check: as for ``subprocess.run``.
        preload: modules imported before the fork besides :data:`PRELOAD` (e.g.
            :data:`COMPILER`), for a child that imports them anyway; a real process
            imports nothing in advance.

    Returns:
        The ``CompletedProcess`` (``returncode`` is ``-N`` for a child killed by signal N).

    Raises:
        subprocess.TimeoutExpired: the child ran longer than ``timeout`` (it was killed).
        subprocess.CalledProcessError: ``check`` and a non-zero exit code.
    """
    argv = [os.fspath(a) for a in argv]
    full_env = dict(os.environ if env is None else env)

    def real_process() -> subprocess.CompletedProcess:
        return subprocess.run(
            argv,
            env=None if env is None else full_env,
            cwd=cwd,
            timeout=timeout,
            input=input,
            capture_output=capture_output,
            text=text,
            check=check,
        )

    server = _server_for(argv, full_env, tuple(preload))
    if server is None:
        return real_process()
    try:
        return server.run(argv, full_env, cwd, timeout, input, capture_output, text, check)
    except _NotStarted:  # the server stopped before taking the request: nothing ran
        return real_process()


# -- the caller's side ----------------------------------------------------------------------------

_lock = threading.Lock()
_servers: dict[tuple, list[_Server]] = {}
_seen_envs: set[tuple] = set()
_turn = itertools.count()


def _command(argv: list[str]) -> tuple[str, str, list[str]] | None:
    """``(kind, target, args)`` for a command a server can run, else None."""
    if len(argv) < 2 or argv[0] != sys.executable:
        return None
    if argv[1] == "-c":
        return ("-c", argv[2], argv[3:]) if len(argv) > 2 else None
    if argv[1].startswith("-"):
        return None
    return ("script", argv[1], argv[2:])


def _env_key(env: Mapping[str, str], preload: tuple[str, ...]) -> tuple:
    return (preload, *sorted((k, v) for k, v in env.items() if not k.startswith(IGNORED_ENV)))


def _server_for(argv: list[str], env: dict[str, str], preload: tuple[str, ...]) -> _Server | None:
    if _command(argv) is None or os.environ.get(SWITCH_ENV) == "0":
        return None
    if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        return None
    key = _env_key(env, preload)
    stopped: list[_Server] = []
    with _lock:
        pool = _servers.get(key)
        if pool is None:
            if key not in _seen_envs:
                _seen_envs.add(key)
                return None
            while len(_servers) >= MAX_ENVS:  # the least recently used environment makes room
                stopped += _servers.pop(next(iter(_servers)))
            pool = _servers[key] = [_Server(env, preload) for _ in range(SERVERS_PER_ENV)]
        else:
            _servers[key] = _servers.pop(key)  # most recently used last
        server = pool[next(_turn) % len(pool)]
    for old in stopped:
        old.stop()
    return server if server.ready() else None


class _Server:
    """One preloaded server process, started on first use; it exits when this process does."""

    def __init__(self, env: dict[str, str], preload: tuple[str, ...]) -> None:
        self._env = env
        self._preload = preload
        # A Linux abstract socket name (no file); the leading NUL is added where it is used.
        self._name = f"airgraph-fresh-python-{os.getpid()}-{secrets.token_hex(8)}"
        self._proc: subprocess.Popen | None = None
        self._usable: bool | None = None
        self._start_lock = threading.Lock()

    def ready(self) -> bool:
        with self._start_lock:
            if self._usable is None:
                self._usable = self._start()
            return self._usable and self._proc is not None and self._proc.poll() is None

    def _start(self) -> bool:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, self._name, _HERE, ",".join(self._preload)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self._env,
            cwd="/",  # children change to their own folder
        )
        atexit.register(self.stop)
        line = _readline_with_timeout(self._proc.stdout, _START_TIMEOUT)
        return line.strip() == b"ready"

    def stop(self) -> None:
        if self._proc is None or self._proc.stdin.closed:
            return
        self._proc.stdin.close()  # the server exits at the end of its input
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc.stdout.close()

    def run(self, argv, env, cwd, timeout, input, capture_output, text, check):
        kind, target, args = _command(argv)
        request = {
            "kind": kind,
            "target": target,
            "args": args,
            "env": env,
            "cwd": os.path.abspath(os.fspath(cwd)) if cwd is not None else os.getcwd(),
        }
        with contextlib.ExitStack() as files:
            if input is not None:
                data = input.encode(locale.getpreferredencoding(False)) if text else input
                stdin = files.enter_context(tempfile.TemporaryFile())
                stdin.write(data)
                stdin.seek(0)
                stdin_fd = stdin.fileno()
            else:
                stdin_fd = _inherited_stdin()
                files.callback(os.close, stdin_fd)
            if capture_output:
                out = files.enter_context(tempfile.TemporaryFile())
                err = files.enter_context(tempfile.TemporaryFile())
                fds = [stdin_fd, out.fileno(), err.fileno()]
            else:
                fds = [stdin_fd, 1, 2]
            returncode = self._exchange(request, fds, timeout, argv)
            stdout = stderr = None
            if capture_output:
                stdout, stderr = _read(out, text), _read(err, text)
        if returncode is None:
            raise subprocess.TimeoutExpired(argv, timeout, output=stdout, stderr=stderr)
        if check and returncode:
            raise subprocess.CalledProcessError(returncode, argv, stdout, stderr)
        return subprocess.CompletedProcess(argv, returncode, stdout, stderr)

    def _exchange(self, request: dict, fds: list[int], timeout: float | None, argv) -> int | None:
        """Send the request; the child's exit code, or None after killing it on timeout."""
        body = json.dumps(request).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            try:
                sock.connect("\0" + self._name)
            except OSError as error:
                raise _NotStarted from error
            socket.send_fds(sock, [struct.pack("!Q", len(body))], fds)
            sock.sendall(body)
            replies = _Replies(sock)
            started = replies.next(None)
            if not started:
                raise RuntimeError(f"the fork server did not start {argv[:2]}")
            try:
                done = replies.next(timeout)
                timed_out = False
            except TimeoutError:
                timed_out = True
                os.kill(started["pid"], signal.SIGKILL)
                done = replies.next(None)
            if not done:
                raise RuntimeError(f"the fork server lost the child of {argv[:2]}")
            CHILD_CPU_SECONDS[0] += done["cpu"]
            CHILDREN[0] += 1
            return None if timed_out else done["returncode"]


class _NotStarted(Exception):
    """The server was gone before it took the request."""


class _Replies:
    """The supervisor's JSON lines on a socket; None once it closed."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def next(self, timeout: float | None) -> dict | None:
        self._sock.settimeout(timeout)
        while b"\n" not in self._buffer:
            chunk = self._sock.recv(4096)  # TimeoutError keeps what was read so far
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)


def _inherited_stdin() -> int:
    """A copy of this process's fd 0 (as a child would inherit it), or /dev/null if closed."""
    try:
        return os.dup(0)
    except OSError:
        return os.open(os.devnull, os.O_RDONLY)


def _readline_with_timeout(stream, timeout: float) -> bytes:
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else b""


def _read(f, text: bool) -> str | bytes:
    f.seek(0)
    data = f.read()
    if not text:
        return data
    # As subprocess.run(text=True): the locale's encoding, universal newlines.
    decoded = data.decode(locale.getpreferredencoding(False))
    return decoded.replace("\r\n", "\n").replace("\r", "\n")


# -- the server's side ----------------------------------------------------------------------------


def _serve(name: str, base_path: list[str], extra: str = "") -> Callable[[], None]:
    """Preload, then fork a supervisor per request; returns the job, in the child only.

    The server runs until its standard input ends (the caller exited).
    """
    import importlib
    import selectors

    with warnings.catch_warnings(record=True) as caught:  # the filters stay as they are
        for module in (*PRELOAD, *filter(None, extra.split(","))):
            importlib.import_module(module)
    # A real process prints its import-time warnings on its stderr: every child does.
    _PRELOAD_WARNINGS.extend(
        warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line) for w in caught
    )
    if len(os.listdir("/proc/self/task")) > 1:
        sys.stdout.write("unsafe: the preload started a thread\n")
        sys.stdout.flush()
        sys.exit(0)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + name)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped by the kernel
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller stops us by closing our input
    import gc

    gc.freeze()  # children's collections skip the preload (no copy-on-write of its pages)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    events = selectors.DefaultSelector()
    events.register(listener, selectors.EVENT_READ)
    events.register(sys.stdin.buffer, selectors.EVENT_READ)
    while True:
        for key, _ in events.select():
            if key.fileobj is not listener:
                if not os.read(0, 4096):
                    os._exit(0)
                continue
            conn, _ = listener.accept()
            if os.fork() == 0:
                events.close()
                listener.close()
                return _supervise(conn, base_path)
            conn.close()


def _supervise(conn: socket.socket, base_path: list[str]) -> Callable[[], None]:
    """In the supervisor: fork the child, report its pid, wait, report its exit code."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        header, fds, _, _ = socket.recv_fds(conn, 8, 3)
        while len(header) < 8:
            header += conn.recv(8 - len(header))
        (size,) = struct.unpack("!Q", header)
        body = b""
        while len(body) < size:
            body += conn.recv(size - len(body))
        request = json.loads(body)
        pid = os.fork()
    except BaseException:
        os._exit(1)  # the caller sees the connection close without a pid
    if pid == 0:
        conn.close()
        return _become_child(request, fds, base_path)
    try:
        for fd in fds:
            os.close(fd)
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        _, status, usage = os.wait4(pid, 0)
        done = {
            "returncode": os.waitstatus_to_exitcode(status),
            "cpu": usage.ru_utime + usage.ru_stime,
        }
        conn.sendall(json.dumps(done).encode() + b"\n")
    finally:
        os._exit(0)  # the supervisor never returns into the server's loop


def _become_child(request: dict, fds: list[int], base_path: list[str]) -> Callable[[], None]:
    """Turn this fork into the requested process; returns the job that runs its code."""
    import builtins
    import random
    import types

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds) - {0, 1, 2}:
        os.close(fd)
    if _PRELOAD_WARNINGS:
        os.write(2, "".join(_PRELOAD_WARNINGS).encode())
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "torch" in sys.modules:
        sys.modules["torch"].seed()  # a fresh process seeds torch from the OS, not a constant
    kind, target, args = request["kind"], request["target"], request["args"]
    sys.modules.pop("fresh_python", None)

    main = types.ModuleType("__main__")
    main.__dict__.update(__builtins__=builtins, __annotations__={})
    if kind == "-c":
        sys.path[:] = ["", *base_path]
        sys.argv = ["-c", *args]
        code = compile(target, "<string>", "exec")
    else:
        sys.path[:] = [os.path.dirname(os.path.abspath(target)), *base_path]
        sys.argv = [target, *args]
        main.__file__ = os.path.abspath(target)
        main.__cached__ = None
        with open(target, "rb") as f:
            code = compile(f.read(), target, "exec")
    sys.modules["__main__"] = main
    return lambda: _run_and_exit(lambda: exec(code, main.__dict__))


def _run_and_exit(body: Callable[[], None]) -> None:
    """Run the child's code; the interpreter's own shutdown ends the process.

    ``SystemExit`` and a normal end reach the interpreter unchanged (exit status, thread
    joins, ``atexit``, module teardown, C++ destructors). An uncaught exception is printed
    through ``sys.excepthook`` without this module's frames, then the process exits with
    status 1, as a new process does.
    """
    try:
        body()
    except SystemExit:
        raise
    except BaseException:
        kind, value, tb = sys.exc_info()
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next  # the traceback starts in the child's code, as in a new process
        sys.excepthook(kind, value.with_traceback(tb), tb)
        sys.exit(1)

"""``gear_compile="background"``: one thread compiles a geared graph's gears while calls are served.

:class:`BackgroundCompiles` runs one daemon thread per geared graph. It
compiles the graph's gears one by one, the gears already called first (in
the order of their first calls), then the rest in plan order; the
:class:`~airgraph_dynamo.gear_dispatch.GearedRunner` swaps each compiled gear
into its dispatch table (one dict assignment) as it is registered, and serves
the others meanwhile from an executable that compiles nothing
(:meth:`~airgraph_core.targets.Executable.uncompiled`).

Threading notes (torch 2.13):

- Inductor's config overrides and patches live in context variables, and
  its tracing context and ``V`` are thread-local: the thread runs in a copy of
  the calling thread's context at the first call, so the user's Inductor
  settings of that moment apply to the background compiles too.
- torch.fx's tracing flag is process-wide: while the thread traces (each
  Inductor compile runs AOTAutograd's ``make_fx``), a ``torch.compile``'d
  function called in another thread would raise ("...symbolically trace a
  dynamo-optimized function"). The thread that made the geared graph's first
  call therefore gets ``torch._dynamo.config.error_on_nested_fx_trace =
  False`` (a per-thread setting): such a call runs that function eagerly,
  with the same results. The setting stays until that thread calls
  :func:`wait_for_gears` (or ``GearedRunner.wait_for_gears``) and every
  background compile it started has finished; then its previous value is
  put back. Calls from other threads are not covered: serve a geared graph
  from several threads only after :func:`wait_for_gears`.
- The thread holds Dynamo's compile lock while it compiles a gear, and the
  host target serializes its own Inductor compiles and exports (in-process
  and AOTInductor packages) with one lock: a Dynamo compile or an airgraph
  host compile in another thread waits for the gear in progress. Host
  compiles made in the callers' threads take only the host lock, so they
  are not serialized with Dynamo compiles of third threads (as without
  background compiles). A ``make_fx``, ``torch.export`` or
  ``torch.fx.symbolic_trace`` that user code runs outside Dynamo in another
  thread at the same moment is not covered either.
- A compile that raises is logged as a warning (once per graph, the first
  error), and that gear keeps being served by the interpreter; the other
  gears still compile.
- At process exit the thread stops before its next gear: an ``atexit``
  handler stops it and waits for the gear being compiled (at most
  :data:`EXIT_WAIT_SECONDS`; Inductor's worker pool refuses new work by
  then, so that compile usually ends at once, quietly), so exit neither
  hangs nor kills a compile halfway. While the main thread has returned but
  other (non-daemon) threads still serve, the thread goes on compiling; a
  compile refused in that window is logged at debug level and its gear
  stays uncompiled.

:func:`wait_for_gears` blocks until every background compile in the process
is done (tests, benchmarks, a server that wants steady latency before it
takes traffic).
"""

from __future__ import annotations

import atexit
import contextvars
import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence

__all__ = ["EXIT_WAIT_SECONDS", "BackgroundCompiles", "wait_for_gears"]

log = logging.getLogger("airgraph.dynamo")

#: How long process exit waits for the gear being compiled before it lets the thread go.
EXIT_WAIT_SECONDS = 120.0

_running: weakref.WeakSet[BackgroundCompiles] = weakref.WeakSet()
# Started compiles whose first caller's Dynamo setting is still to be put back.
_to_restore: weakref.WeakSet[BackgroundCompiles] = weakref.WeakSet()
_running_lock = threading.Lock()
_exiting = threading.Event()


class BackgroundCompiles:
    """The background compiles of one geared graph: a thread, its queue, its outcome.

    Args:
        graph_name: for logs and the thread's name.
        indices: the gears to compile (combination indices), in plan order.
        compile_gear: ``compile_gear(index)`` compiles one gear and registers
            it (it runs in the thread; an exception marks the gear failed).

    Attributes:
        failures: gear index -> the error its compile raised.
    """

    def __init__(
        self, graph_name: str, indices: Sequence[int], compile_gear: Callable[[int], None]
    ) -> None:
        self.graph_name = graph_name
        self._pending = list(indices)
        self._total = len(self._pending)
        self._compile_gear = compile_gear
        # Gears called before they were compiled, in order: compiled first.
        self._wanted: dict[int, None] = {}
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures: dict[int, str] = {}
        #: Set by the runner: puts the first caller's Dynamo setting back (that thread only).
        self.restore_in_caller: Callable[[], None] | None = None
        self._caller = threading.get_ident()

    def want(self, index: int) -> None:
        """Compile gear ``index`` next (it is being called); cheap, any thread."""
        self._wanted.setdefault(index, None)  # one atomic dict operation

    def start(self) -> None:
        """Start the thread (in a copy of the calling thread's context)."""
        if self._thread is not None:
            raise RuntimeError(f"background gear compiles of {self.graph_name} already started")
        _register_exit_handler()
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run,
            args=(self._run,),
            name=f"airgraph-gears-{self.graph_name}",
            daemon=True,
        )
        with _running_lock:
            _running.add(self)
            _to_restore.add(self)
        self._thread.start()

    @property
    def done(self) -> bool:
        """Whether the thread has finished (every gear compiled or failed, or stopped)."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the thread has finished or ``timeout`` seconds passed.

        Returns:
            True when every gear was compiled; False on a timeout, a gear
            that failed to compile, or a stop at exit.
        """
        if self._thread is None:
            return False
        if not self._done.wait(timeout):
            return False
        self._thread.join()
        restore = self.restore_in_caller
        if restore is not None and threading.get_ident() == self._caller:
            self.restore_in_caller = None
            with _running_lock:
                _to_restore.discard(self)
            restore()
        return not self.failures and not self._pending

    def stop(self) -> None:
        """Ask the thread to stop before its next gear (the current one finishes)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (after :meth:`stop`)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _next(self) -> int | None:
        for index in list(self._wanted):
            del self._wanted[index]
            if index in self._pending:
                self._pending.remove(index)
                return index
        return self._pending.pop(0) if self._pending else None

    def _run(self) -> None:
        start = time.perf_counter()
        compiled = 0
        try:
            while not self._stop.is_set() and not _exiting.is_set():
                index = self._next()
                if index is None:
                    break
                try:
                    self._compile_gear(index)
                    compiled += 1
                except Exception as e:  # served by the interpreter instead: slower, still right
                    self._failed(index, e)
            log.info(
                "gears: background compiles of %s done: %d of %d gears compiled in %.2f s%s",
                self.graph_name,
                compiled,
                self._total,
                time.perf_counter() - start,
                f" ({len(self._pending)} not started: stopped)" if self._pending else "",
            )
        finally:
            self._done.set()
            with _running_lock:
                _running.discard(self)

    def _failed(self, index: int, error: Exception) -> None:
        self.failures[index] = f"{type(error).__name__}: {error}"
        if _exiting_now():  # e.g. Inductor's worker pool refusing work at shutdown
            log.debug(
                "gears: gear %d of %s not compiled at exit: %s", index, self.graph_name, error
            )
        elif len(self.failures) == 1:
            log.warning(
                "gears: compiling gear %d of %s in the background failed (%s: %s); it keeps "
                "running uncompiled (slower), and so does any other gear that fails",
                index,
                self.graph_name,
                type(error).__name__,
                error,
            )
        else:
            log.debug("gears: gear %d of %s failed to compile: %s", index, self.graph_name, error)

    def __repr__(self) -> str:
        state = "done" if self.done else "running" if self._thread is not None else "new"
        return (
            f"BackgroundCompiles({self.graph_name}, {state}, pending={len(self._pending)}, "
            f"failures={len(self.failures)})"
        )


def wait_for_gears(timeout: float | None = None) -> bool:
    """Block until every background gear compile in this process has finished.

    With ``airgraph_config.gear_compile="background"``, a geared graph's
    first call starts a thread that compiles its gears; calls are served
    meanwhile, slower, by the uncompiled graph. Call this before timing the
    steady latency or before taking traffic that needs it.

    Args:
        timeout: the most seconds to wait in all; None waits as long as it takes.

    Returns:
        True when no background compile is running any more; False when the
        timeout passed first. A gear that failed to compile was logged as a
        warning and runs uncompiled (``GearedRunner.wait_for_gears`` tells
        one graph's outcome).

    Raises:
        ValueError: ``timeout`` is negative.

    Example:
        >>> from airgraph_dynamo import wait_for_gears
        >>> wait_for_gears(timeout=600)  # nothing is compiling: returns at once
        True
    """
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout: expected None or seconds >= 0, got {timeout!r}")
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with _running_lock:
            running = list(_running)
            finished = [c for c in _to_restore if c.done]
        for compiles in finished:  # puts this thread's Dynamo setting back, if it is the caller
            compiles.wait(0)
        if not running:
            return True
        for compiles in running:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            compiles.wait(left)
            if not compiles.done:
                return False


_exit_handler_registered = False


def _exiting_now() -> bool:
    # After the main thread has returned (interpreter shutdown has begun, other
    # threads may still serve), concurrent.futures already refuses work: a compile
    # failing then is expected, not worth a warning.
    return _exiting.is_set() or not threading.main_thread().is_alive()


def _register_exit_handler() -> None:
    global _exit_handler_registered
    if not _exit_handler_registered:
        _exit_handler_registered = True
        atexit.register(_stop_at_exit)


def _stop_at_exit() -> None:
    """Stop every background thread before its next gear and wait for the gear in progress."""
    _exiting.set()
    with _running_lock:
        running = list(_running)
    deadline = time.monotonic() + EXIT_WAIT_SECONDS
    for compiles in running:
        compiles.stop()
        compiles.join(max(0.0, deadline - time.monotonic()))

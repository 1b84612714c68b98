"""Ranks agree on a cached program before its first run: the same collectives, run the same way.

A program whose GE graph holds collectives (Hcom ops) runs them with the
other ranks of their groups, in graph order: every rank must run the same
graph. Before such a program's first run, each rank posts to
``torch.distributed``'s key-value store (torchrun's) how it got the program
(``"hit"``: loaded from its cache entry, ``"compiled"``: traced here) and a
digest of its collective schedule (:func:`airgraph_core.process_groups.collective_schedule`)
and gear shapes, then reads the other ranks' posts, with a timeout:

- all loaded, or all compiled, with equal digests: run;
- equal statuses, different digests: :class:`RankMismatchError` on every
  rank, naming the ranks and the first collective that differs (running
  would hang in, or mix up, the collectives);
- some loaded, some compiled (an entry missing or stale on some ranks): the
  ranks that loaded compile too, in memory, so that every rank runs the
  program the same way (a freshly compiled host program runs gear
  specializations a loaded one does not, which would pair collectives of
  different calls), then all agree again;
- a rank does not post within the timeout (it runs another program, or none):
  :class:`RankMismatchError` naming the missing ranks.

The timeout is :data:`RANK_TIMEOUT_SECONDS`, or ``$AIRGRAPH_CACHE_RANK_TIMEOUT``
seconds: it bounds how long a loaded rank waits for a compiling one's trace.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from typing import Any

__all__ = [
    "RANK_TIMEOUT_ENV",
    "RANK_TIMEOUT_SECONDS",
    "RankMismatchError",
    "agree",
    "participants",
    "rank_timeout",
]

log = logging.getLogger("airgraph.cache")

RANK_TIMEOUT_SECONDS = 600.0
RANK_TIMEOUT_ENV = "AIRGRAPH_CACHE_RANK_TIMEOUT"

#: Per set of participating ranks, the agreements this process has posted (keys stay unique).
_rounds: dict[tuple[int, ...], int] = {}


class RankMismatchError(RuntimeError):
    """Ranks that must run the same graph (its collectives meet) would run different ones."""


def rank_timeout() -> float:
    """Seconds a rank waits for the others: ``$AIRGRAPH_CACHE_RANK_TIMEOUT``, else 600.

    Raises:
        ValueError: the variable is set to something other than a number > 0.
    """
    text = os.environ.get(RANK_TIMEOUT_ENV)
    if not text:
        return RANK_TIMEOUT_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"${RANK_TIMEOUT_ENV}: expected a number of seconds > 0, got {text!r}")
    return value


def participants(graph: Any) -> tuple[int, ...]:
    """The global ranks that run ``graph``'s collectives with this one (empty: no collectives).

    A group whose name does not list its ranks (an HCCL communicator's name)
    counts as the whole world.
    """
    import torch.distributed as dist

    from airgraph_core.process_groups import graph_group_names, parse_host_group_name

    names = graph_group_names(graph)
    if not names or not (dist.is_available() and dist.is_initialized()):
        return ()
    ranks: set[int] = set()
    for name in names:
        try:
            ranks.update(parse_host_group_name(name)[1])
        except ValueError:
            ranks.update(range(dist.get_world_size()))
    return tuple(sorted(ranks))


def _gear_text(gears: Sequence[Sequence[Sequence[int]]] | None) -> list:
    return sorted([[list(s) for s in combo] for combo in gears or ()])


def agree(
    graph: Any,
    status: str,
    *,
    where: str,
    gears: Sequence[Sequence[Sequence[int]]] | None = None,
) -> bool:
    """Post this rank's program and wait for the other participants' (see the module docstring).

    Args:
        graph: the program's GE graph.
        status: ``"hit"`` or ``"compiled"``.
        where: the cache entry, for messages.
        gears: the shapes of every gear of the program (None: no gears).

    Returns:
        True to run the program; False when some participants loaded it and
        others compiled it (compile, then agree again).

    Raises:
        RankMismatchError: the participants' programs differ, or some did not
            post within the timeout.
    """
    import torch.distributed as dist

    from airgraph_core.process_groups import collective_schedule, default_store

    ranks = participants(graph)
    if len(ranks) < 2:
        return True
    schedule = collective_schedule(graph)
    text = json.dumps({"schedule": schedule, "gears": _gear_text(gears)}, sort_keys=True)
    mine = {
        "status": status,
        "digest": hashlib.sha256(text.encode()).hexdigest()[:16],
        "schedule": schedule,
        "where": where,
    }
    round_ = _rounds.get(ranks, 0)
    _rounds[ranks] = round_ + 1
    prefix = f"airgraph/cache/agree/{','.join(map(str, ranks))}/{round_}/"
    rank = dist.get_rank()
    store = default_store()
    store.set(prefix + str(rank), json.dumps(mine))
    seconds = rank_timeout()
    peers = [p for p in ranks if p != rank]
    keys = [prefix + str(p) for p in peers]
    try:
        store.wait(keys, datetime.timedelta(seconds=seconds))
    except Exception as e:  # the store's timeout error type varies by store
        missing = [p for p, key in zip(peers, keys) if not store.check([key])]
        raise RankMismatchError(
            f"rank {rank}: rank(s) {', '.join(map(str, missing))} did not reach the first run "
            f"of the cached program {where} within {seconds:g} s (${RANK_TIMEOUT_ENV}); ranks "
            f"{list(ranks)} run its collectives together, so every one must call it, with the "
            f"same program ({type(e).__name__}: {e})"
        ) from e
    posts = {rank: mine}
    posts.update({p: json.loads(store.get(key)) for p, key in zip(peers, keys)})
    statuses = {p["status"] for p in posts.values()}
    if len(statuses) > 1:
        log.warning(
            "rank %d: cache entries of %s: %s; every rank compiles, so that all run the "
            "program the same way",
            rank,
            where,
            ", ".join(f"rank {r} {posts[r]['status']}" for r in sorted(posts)),
        )
        return False
    if len({p["digest"] for p in posts.values()}) > 1:
        raise RankMismatchError(_mismatch_text(rank, posts, where))
    return True


def _mismatch_text(rank: int, posts: dict[int, dict], where: str) -> str:
    lines = [
        f"rank {rank}: the ranks would run different programs for {where}, whose collectives "
        "must meet in the same order (running them would hang or mix up the collectives):"
    ]
    for r in sorted(posts):
        lines.append(
            f"  rank {r}: {posts[r]['status']}, digest {posts[r]['digest']}, "
            f"{len(posts[r]['schedule'])} collectives"
        )
    schedules = {r: posts[r]["schedule"] for r in posts}
    longest = max(len(s) for s in schedules.values())
    for i in range(longest):
        at = {r: (s[i] if i < len(s) else None) for r, s in schedules.items()}
        if len({json.dumps(v, sort_keys=True) for v in at.values()}) > 1:
            lines.append(f"  first difference, collective {i}:")
            lines.extend(f"    rank {r}: {at[r]}" for r in sorted(at))
            break
    else:
        lines.append("  the collectives agree; the gear shapes differ")
    lines.append(
        "Make the traced code the same on every rank (no rank-dependent control flow around "
        "collectives), or remove the cache entries and compile again."
    )
    return "\n".join(lines)

"""Caps glibc's malloc arenas, so a long run's resident memory stays flat.

glibc gives threads their own malloc arenas (up to 8 per core).  XLA's CPU thread
pools spread their buffers among them, and over 20,000 meta-steps the arenas fragment:
resident memory creeps up by about 6% (docs/reliability.md, the soak).  With the arenas
capped at two the same run starts lower and stays flat.  The price: XLA's threads share
two arenas, and on 2 CPU cores a meta-step takes 4-8% longer (docs/BENCHMARKS.md);
``MALLOC_ARENA_MAX=16`` in the environment (glibc's own limit on 2 cores) lifts it.

``MALLOC_ARENA_MAX`` does this too, but glibc reads it only at process start, which a
user's shell or job script has to remember; ``mallopt`` set before any other thread
exists has the same effect (glibc fixes the arena limit when a second arena is first
needed).  A ``MALLOC_ARENA_MAX`` in the environment wins: it is the user's choice.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

ARENAS = 2
_M_ARENA_MAX = -8       # glibc's malloc.h


def cap_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Sets glibc's arena limit; True if it was set here.  A no-op off Linux/glibc
    (macOS, musl) and when ``MALLOC_ARENA_MAX`` is already in the environment."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):       # not glibc
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(_M_ARENA_MAX, int(arenas)) == 1

"""The malloc arena cap that keeps a long run's resident memory flat (docs/reliability.md)."""
import os
import subprocess
import sys
import textwrap

import pytest

from metagan_cli import cli
from metagan_cli.cluster import host_memory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")

# Eight threads each allocate once, then glibc's malloc_info lists one <heap> per arena.
COUNT_ARENAS = textwrap.dedent("""
    import ctypes, sys, tempfile, threading
    from metagan_cli.cluster.host_memory import cap_malloc_arenas
    if sys.argv[1] == "cap":
        assert cap_malloc_arenas()
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.fopen.restype = ctypes.c_void_p
    barrier = threading.Barrier(8)
    def allocate():
        libc.malloc(4096)
        barrier.wait()          # every thread alive at once: none hands its arena on
    threads = [threading.Thread(target=allocate) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        stream = libc.fopen(f.name.encode(), b"w")
        libc.malloc_info(0, ctypes.c_void_p(stream))
        libc.fclose(ctypes.c_void_p(stream))
        print(open(f.name).read().count("<heap nr="))
""")


def _arenas(mode: str, environment: dict) -> int:
    done = subprocess.run([sys.executable, "-c", COUNT_ARENAS, mode], env=environment,
                          capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


def _environment(**extra) -> dict:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    return {**environment, **extra}


def test_capping_holds_a_threaded_process_to_two_arenas():
    assert _arenas("free", _environment()) > host_memory.ARENAS     # glibc's default: more
    assert _arenas("cap", _environment()) <= host_memory.ARENAS


def test_a_malloc_arena_max_in_the_environment_is_left_to_the_user(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert host_memory.cap_malloc_arenas() is False


def test_the_command_line_caps_the_arenas_before_running_a_command(monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "cap_malloc_arenas", lambda: calls.append("capped"))
    monkeypatch.setattr(sys, "argv", ["metagan"])
    with pytest.raises(SystemExit):             # --help of a command exits after printing
        cli.main(["sample", "--help"])
    assert calls == ["capped"]

import atexit
import os
import shutil
import tempfile

import jax

# The tests compile many small programs, several of them more than once (the same tiny
# configuration in several CLI runs): one compilation cache for the whole test run, new
# each run and removed at its end, so nothing outside the run is read or kept.
# Test workers (pytest-xdist) inherit the environment of the process that starts them,
# so they share the cache that process made.
_CACHE = os.environ.get("METAGAN_TEST_XLA_CACHE")
if _CACHE is None:
    _CACHE = os.environ["METAGAN_TEST_XLA_CACHE"] = tempfile.mkdtemp(prefix="metagan-test-xla-")
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
os.environ["METAGAN_COMPILATION_CACHE"] = _CACHE          # CLI runs in subprocesses
os.environ["METAGAN_COMPILATION_CACHE_MIN_SECONDS"] = "0.2"  # their many small programs too
jax.config.update("jax_compilation_cache_dir", _CACHE)      # programs compiled in-process
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)

# The tests check what programs compute, not how fast they run: LLVM's cheapest code
# generation compiles them 1.5-2x faster (results agree to float rounding; every
# comparison in a test is made under the same flags).  Set before JAX starts its backend;
# CLI runs in subprocesses inherit it.  scripts/bench.py --matrix clears it for its cells.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

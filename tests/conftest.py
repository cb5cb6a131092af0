import atexit
import os
import shutil
import tempfile

import jax

# The tests compile many small programs, several of them more than once (the same tiny
# configuration in several CLI runs): one compilation cache for the whole test run, new
# each run and removed at its end, so nothing outside the run is read or kept.
_CACHE = tempfile.mkdtemp(prefix="metagan-test-xla-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
os.environ["METAGAN_COMPILATION_CACHE"] = _CACHE          # CLI runs in subprocesses
os.environ["METAGAN_COMPILATION_CACHE_MIN_SECONDS"] = "0.2"  # their many small programs too
jax.config.update("jax_compilation_cache_dir", _CACHE)      # programs compiled in-process
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)

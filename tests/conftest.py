import os

# Tests compile many small programs; a shared on-disk cache would hide compile-time
# regressions and leave files behind, so they run without one.
os.environ.setdefault("METAGAN_COMPILATION_CACHE", "off")

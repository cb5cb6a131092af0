"""The JAX core: pure functions over parameter pytrees.  No Hydra, no file I/O."""

"""Draw N images from a meta-trained initialisation or an adapted checkpoint."""
from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from metagan_cli.core.meta_state import SAMPLE_STREAM, root_key
from metagan_cli.data.imaging import to_uint8
from metagan_cli.errors import UserError
from metagan_cli.runs import images
from metagan_cli.workflows.common import check_arguments, load_run, with_sample_temperature

BATCH = 256   # generate in fixed-size batches: bounded memory, one compilation


def sample(checkpoint: str, out_dir: str | Path, n: int = 64, seed: int = 0,
           temperature: float | None = None) -> Path:
    """Writes samples.png and samples.npz (uint8 ``images`` [n, H, W, C] and latents ``z``);
    z at ``temperature`` (None: the run's ``algo.sample_temperature``)."""
    check_arguments(n=n, seed=seed, temperature=temperature)
    _, info, cfg, gan, params = load_run(checkpoint)
    cfg = with_sample_temperature(cfg, temperature)
    if gan.conditioned and "shots" not in params:
        raise UserError(f"checkpoint={checkpoint} is a conditioned generator ({cfg.model.arch}), which "
                        f"draws from support images: adapt it first (metagan adapt checkpoint=... "
                        f"class=N or images=DIR, adapt.steps=0 for none) and sample the adapt dir")
    z = gan.latents(jax.random.fold_in(root_key(seed), SAMPLE_STREAM), n, cfg.algo.sample_temperature)
    generate = jax.jit(gan.generate)
    padded = np.concatenate([z, np.zeros((-n % BATCH, z.shape[1]), z.dtype)]) if n > BATCH else z
    chunks = [np.asarray(generate(params["g"], padded[i:i + BATCH], params.get("shots")))
              for i in range(0, len(padded), BATCH)]
    generated = np.concatenate(chunks)[:n]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images.save_grid(out_dir / "samples.png", generated[:min(n, 256)])
    np.savez_compressed(out_dir / "samples.npz", images=to_uint8(generated), z=np.asarray(z),
                        source=str(checkpoint), kind=info["kind"], seed=seed,
                        temperature=cfg.algo.sample_temperature)
    return out_dir / "samples.npz"

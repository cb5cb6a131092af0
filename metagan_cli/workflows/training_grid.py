"""The grid meta-train saves as it goes: samples of the initialisation, and what one
adaptation from it makes of fixed shots of a few validation classes (what the
initialisation is for; the initialisation alone is, by design, a blend of classes).
Validation classes, never held-out ones: whatever is chosen by looking at these grids
(a stopping point, a setting) never saw a held-out class."""
from __future__ import annotations

import jax
import numpy as np
from PIL import Image

from metagan_cli.config import MetaLearnConfig
from metagan_cli.core.algorithms import algorithm
from metagan_cli.core.episodes import ClassImages, sample_from_class
from metagan_cli.core.gan import Gan
from metagan_cli.core.inner_loop import make_adaptation
from metagan_cli.core.meta_state import SAMPLE_STREAM, root_key
from metagan_cli.runs import images

COLUMNS = 16
SHOWN_CLASSES = 4


class TrainingGrid:
    def __init__(self, cfg: MetaLearnConfig, gan: Gan, data: ClassImages,
                 validation: tuple[int, ...], class_names: list[str]):
        key = jax.random.fold_in(root_key(cfg.seed), SAMPLE_STREAM)
        z_key, shot_key, adapt_key = jax.random.split(key, 3)
        self.classes = list(validation[:SHOWN_CLASSES])
        self.names = class_names
        self.shots = [sample_from_class(jax.random.fold_in(shot_key, c), data, c, cfg.shots)
                      for c in self.classes]
        self.init_z = gan.latents(z_key, 2 * COLUMNS, cfg.algo.sample_temperature)   # as adapt draws
        self.adapted_z = self.init_z[:max(COLUMNS - cfg.shots, 1)]
        self.adapt_key = adapt_key
        self.steps = algorithm(cfg).default_adapt_steps(cfg)    # as adapt would (algo=dagan: 0)
        # a meta-learner's checkpoint is an initialisation; pretrain's and dagan's a trained GAN
        self.what = "meta-learned initialisation" if algorithm(cfg).has_task_axis else "trained generator"
        self.conditioned = gan.conditioned
        self._generate = jax.jit(gan.generate)
        self._adapt = jax.jit(make_adaptation(gan, cfg, self.steps))

    def compile(self, params: dict) -> None:
        """Compiles the programs ``save`` runs, without running them."""
        shots = self.shots[0]                # every class's shots have the same shape
        self._generate.lower(params["g"], self.init_z, shots).compile()
        self._generate.lower(params["g"], self.adapted_z, shots).compile()
        self._adapt.lower(params, shots, self.adapt_key).compile()

    def save(self, path, params: dict) -> Image.Image:
        # a conditioned generator's initialisation is shown following the first class's shots
        rows = [(f"samples of the {self.what}" +
                 (f" given the shots of {self.names[self.classes[0]]}" if self.conditioned else ""),
                 np.asarray(self._generate(params["g"], self.init_z, self.shots[0])))]
        for cls, shots in zip(self.classes, self.shots):
            adapted, _ = self._adapt(params, shots, self.adapt_key)
            generated = np.asarray(self._generate(adapted["g"], self.adapted_z, shots))
            after = f"after {self.steps} adaptation steps" if self.steps else "given them, without adaptation"
            rows.append((f"validation class {self.names[cls]}: {len(shots)} shots, then samples {after}",
                         np.concatenate([np.asarray(shots), generated])))
        return images.save_labelled_rows(path, rows, columns=COLUMNS)

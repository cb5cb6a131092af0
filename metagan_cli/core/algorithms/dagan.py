"""``dagan``: DAGAN (Antoniou et al., 2018), the conditional generator a meta-learned GAN
must beat, trained in the same harness on the same classes.

No meta-learning: one GAN (``model=dagan``: G(x, z) from one real image x, D judging
pairs) trained across the meta-train classes.  Each meta-step is ``inner_steps`` GAN
steps, each on a batch of ``meta_batch x shots`` images of one class, every image a
source x for G and the pair discriminator comparing (x, x') with (x, G(x, z)): the
pretrain step with a conditioned model, about the work of one meta-learner step.  Its
checkpoint generates from any K shots as it is (``adapt.steps`` defaults to 0), or is
fine-tuned on them by the run's inner loop.
"""
from __future__ import annotations

from metagan_cli.core.algorithms import ALGORITHMS, Algorithm
from metagan_cli.core.algorithms.pretrain import init_pretrain_optimizer, make_pretrain_step

DAGAN = ALGORITHMS.register(Algorithm("dagan", make_pretrain_step, has_task_axis=False,
                                      init_outer_state=init_pretrain_optimizer,
                                      model="dagan", adapt_steps=0))

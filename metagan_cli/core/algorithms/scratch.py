"""``scratch``: no meta-training.  The checkpoint is the random initialisation every
other algorithm starts from, and adapt trains it on the K shots alone: the baseline
every meta-learner must beat."""
from metagan_cli.core.algorithms import ALGORITHMS, Algorithm

SCRATCH = ALGORITHMS.register(Algorithm("scratch", make_step=None, has_task_axis=False))

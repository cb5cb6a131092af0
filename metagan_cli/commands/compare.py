"""`metagan compare`."""
import hydra
from omegaconf import OmegaConf

from metagan_cli.commands.hydra_app import (CONFIG_PATH, VERSION_BASE, reports_user_errors, optional_int,
                                            quiet_libraries, required, run_dir)
from metagan_cli.errors import UserError


@hydra.main(version_base=VERSION_BASE, config_path=CONFIG_PATH, config_name="compare")
@reports_user_errors
def main(cfg) -> None:
    runs = required(cfg, "runs")
    if not OmegaConf.is_list(runs):
        raise UserError("runs= takes a list, one method each: runs=[REPTILE_SWEEP_DIR,DAGAN_SWEEP_DIR]")
    groups = OmegaConf.to_container(runs, resolve=True)
    labels = cfg.get("labels")
    if labels is not None and not OmegaConf.is_list(labels):
        raise UserError("labels= takes a list, one name per method of runs=: labels=[Reptile,DAGAN]")
    labels = OmegaConf.to_container(labels, resolve=True) if labels is not None else None
    shots, seed = optional_int(cfg, "shots"), optional_int(cfg, "seed") or 0
    eval_values = OmegaConf.to_container(cfg.eval, resolve=True)
    quiet_libraries()
    from metagan_cli.workflows.common import enable_compilation_cache
    from metagan_cli.workflows.compare import compare
    enable_compilation_cache()
    compare(groups, run_dir(), eval_values, shots=shots, seed=seed, labels=labels)
    print(f"written to {run_dir() / 'compare.md'} and {run_dir() / 'compare.json'}")

"""`metagan eval`."""
import hydra
from omegaconf import OmegaConf

from metagan_cli.commands.hydra_app import (CONFIG_PATH, VERSION_BASE, reports_user_errors, optional_float, optional_int,
                                            quiet_libraries, required, run_dir)


@hydra.main(version_base=VERSION_BASE, config_path=CONFIG_PATH, config_name="eval")
@reports_user_errors
def main(cfg) -> None:
    checkpoint = required(cfg, "checkpoint")
    if OmegaConf.is_list(checkpoint):                    # checkpoint=[RUN_A,RUN_B,...]: several seeds
        checkpoint = OmegaConf.to_container(checkpoint, resolve=True)
    shots, steps = optional_int(cfg, "shots"), optional_int(cfg, "adapt.steps")
    seed = optional_int(cfg, "seed") or 0
    temperature = optional_float(cfg, "temperature")
    eval_values = OmegaConf.to_container(cfg.eval, resolve=True)
    quiet_libraries()
    from metagan_cli.workflows.common import enable_compilation_cache
    from metagan_cli.workflows.evaluate import evaluate, print_summary
    enable_compilation_cache()
    result = evaluate(checkpoint, run_dir(), eval_values, shots=shots, extra_budget=steps, seed=seed,
                      temperature=temperature)
    print_summary(result, run_dir())

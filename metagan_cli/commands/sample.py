"""`metagan sample`."""
import hydra

from metagan_cli.commands.hydra_app import (CONFIG_PATH, VERSION_BASE, reports_user_errors, optional_float, optional_int,
                                            quiet_libraries, required, run_dir)


@hydra.main(version_base=VERSION_BASE, config_path=CONFIG_PATH, config_name="sample")
@reports_user_errors
def main(cfg) -> None:
    checkpoint = required(cfg, "checkpoint")
    n, seed = optional_int(cfg, "n"), optional_int(cfg, "seed") or 0
    temperature = optional_float(cfg, "temperature")
    quiet_libraries()
    from metagan_cli.workflows.common import enable_compilation_cache
    from metagan_cli.workflows.sample import sample
    enable_compilation_cache()
    sample(checkpoint, run_dir(), n=64 if n is None else n, seed=seed, temperature=temperature)

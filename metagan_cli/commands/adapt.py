"""`metagan adapt`."""
import hydra

from metagan_cli.commands.hydra_app import (CONFIG_PATH, VERSION_BASE, reports_user_errors, optional_float, optional_int,
                                            quiet_libraries, required, run_dir)


@hydra.main(version_base=VERSION_BASE, config_path=CONFIG_PATH, config_name="adapt")
@reports_user_errors
def main(cfg) -> None:
    checkpoint = required(cfg, "checkpoint")
    cls = cfg["class"]   # an id, or a class name such as Greek/character03
    shots, steps = optional_int(cfg, "shots"), optional_int(cfg, "adapt.steps")
    seed = optional_int(cfg, "seed") or 0
    temperature = optional_float(cfg, "temperature")
    quiet_libraries()
    from metagan_cli.workflows.adapt import adapt
    from metagan_cli.workflows.common import enable_compilation_cache
    enable_compilation_cache()
    adapt(checkpoint, run_dir(), cls=cls, images_dir=cfg.images, shots=shots, steps=steps, seed=seed,
          temperature=temperature)

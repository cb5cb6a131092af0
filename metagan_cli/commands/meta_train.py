"""`metagan meta-train`."""
import hydra

from metagan_cli.commands.hydra_app import (CONFIG_PATH, VERSION_BASE, reports_user_errors, meta_learn_config,
                                            quiet_libraries, run_dir)


@hydra.main(version_base=VERSION_BASE, config_path=CONFIG_PATH, config_name="meta_train")
@reports_user_errors
def main(cfg) -> None:
    config = meta_learn_config(cfg)   # validate before importing JAX: fast errors
    quiet_libraries()
    from metagan_cli.workflows.common import enable_compilation_cache
    from metagan_cli.workflows.meta_train import meta_train
    enable_compilation_cache()
    meta_train(config, run_dir())

"""`metagan meta-train`."""
import hydra

from metagan_cli.commands.hydra_app import (CONFIG_PATH, VERSION_BASE, distributed_config,
                                            meta_learn_config, quiet_libraries,
                                            reports_user_errors, run_dir, write_config_copies)


@hydra.main(version_base=VERSION_BASE, config_path=CONFIG_PATH, config_name="meta_train")
@reports_user_errors
def main(cfg) -> None:
    config = meta_learn_config(cfg)   # validate before importing JAX: fast errors
    distributed = distributed_config(cfg)
    quiet_libraries()
    from metagan_cli.cluster.devices import set_up_devices
    from metagan_cli.workflows.common import enable_compilation_cache
    from metagan_cli.workflows.meta_train import meta_train
    set_up_devices(config, distributed)   # before anything touches a JAX device
    enable_compilation_cache()
    where = run_dir()
    meta_train(config, where, shard_tasks=distributed.shard_tasks,
               when_locked=lambda: write_config_copies(cfg, where))

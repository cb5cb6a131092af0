"""`metagan meta-train`."""
import hydra

from metagan_cli.commands.hydra_app import (CONFIG_PATH, VERSION_BASE, distributed_config,
                                            meta_learn_config, quiet_libraries,
                                            reports_user_errors, run_dir)


@hydra.main(version_base=VERSION_BASE, config_path=CONFIG_PATH, config_name="meta_train")
@reports_user_errors
def main(cfg) -> None:
    config = meta_learn_config(cfg)   # validate before importing JAX: fast errors
    distributed = distributed_config(cfg)
    quiet_libraries()
    from metagan_cli.cluster.distributed import initialize, wanted
    from metagan_cli.cluster.host_devices import available_cores, resolve_cpu_devices, split_host_cpu
    from metagan_cli.core.algorithms import has_task_axis
    from metagan_cli.workflows.common import enable_compilation_cache
    from metagan_cli.workflows.meta_train import meta_train
    sharded = distributed.shard_tasks and has_task_axis(config)
    split_host_cpu(resolve_cpu_devices(distributed.cpu_devices,
                                       config.algo.meta_batch if sharded else 1,
                                       available_cores(), several_processes=wanted(distributed)))
    initialize(distributed)           # both before anything touches a JAX device
    enable_compilation_cache()
    meta_train(config, run_dir(), shard_tasks=distributed.shard_tasks)

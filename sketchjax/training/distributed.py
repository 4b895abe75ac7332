"""More than one process: JAX's distributed runtime, one process per host.

`initialize` joins the runtime before any JAX computation. After it, `jax.devices()` lists
every process's devices, the training mesh spans them, every process reads the same global
batch and places the rows its own devices hold (`steps.put_batch`), XLA all-reduces the
gradients, only process 0 writes metrics and summaries, and orbax writes each checkpoint once,
collectively (the run folder must be on a file system every process sees). On CPUs the
collectives go through gloo.

    # on host i of N (SLURM, Open MPI and Cloud TPU need no flags: --distributed)
    python train.py --mask m.npz --out /shared/runs/x \\
        --coordinator host0:1234 --num-processes N --process-id i
"""
from __future__ import annotations

from typing import Optional

from sketchjax.errors import SketchjaxError


def initialize(coordinator: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None) -> None:
    """Join the distributed runtime: all three arguments, or none (the cluster's detection).

    Raises:
      SketchjaxError: only some of the arguments, or values out of range.
    """
    given = [a is not None for a in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise SketchjaxError("give --coordinator, --num-processes and --process-id together "
                             "(or none of them, on SLURM / Open MPI / Cloud TPU)")
    if all(given) and not (num_processes >= 1 and 0 <= process_id < num_processes):
        raise SketchjaxError(f"--process-id must be in [0, {num_processes}), got {process_id}")
    import jax
    # CPU devices of different processes talk through gloo (a no-op setting on GPUs/TPUs).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)


def is_main_process() -> bool:
    """True in the process that writes files (process 0)."""
    import jax
    return jax.process_index() == 0

"""Training masked networks, in rooms that say what they hold:

- `config`: the recipe (`TrainConfig`) and its presets;
- `optimizer`: the optax chain (weight decay, SGD/Adam, lr schedule, the masked update);
- `steps`: `TrainState` with masks, the pure `train_step`/`eval_step`, their jitted,
  data-parallel forms on a device mesh;
- `plan`: `plan_run` checks a run cheaply and returns the `RunPlan` that names it;
- `loop`: `train(plan)` runs it (evaluation, metrics, checkpoints, run records);
- `run_files`, `checkpoints`, `history`, `run_record`: the files and records a run writes
  (`run_record`: the one per-seed record, written by `train` and by the experiment runner);
- `from_mask`: `train_from_mask(path, overrides)`, the policy of training a mask file.
"""
from sketchjax.training.config import PRESETS, RESUMABLE_CHANGES, TrainConfig, preset
from sketchjax.training.from_mask import (TrainOverrides, plan_from_mask, recipe,
                                          rewind_start, train_from_mask)
from sketchjax.training.loop import TrainResult, evaluate, initial_state, train
from sketchjax.training.optimizer import learning_rate_schedule, make_optimizer, mask_updates
from sketchjax.training.plan import RunPlan, plan_run
from sketchjax.training.run_files import RunPaths
from sketchjax.training.steps import (TrainState, compiled_steps, create_train_state,
                                      data_mesh, eval_step, put_batch, train_step)

__all__ = [
    "PRESETS", "RESUMABLE_CHANGES", "RunPaths", "RunPlan", "TrainConfig", "TrainOverrides",
    "TrainResult", "TrainState", "compiled_steps", "create_train_state", "data_mesh",
    "eval_step", "evaluate", "initial_state", "learning_rate_schedule", "make_optimizer",
    "mask_updates", "plan_from_mask", "plan_run", "preset", "put_batch", "recipe",
    "rewind_start", "train",
    "train_from_mask", "train_step",
]

"""Masks named by their config: the pruning stage of every run, computed once.

A mask is determined by its `MaskSpec` (model, dataset, class count and the full pruning or IMP
config, seed included). Its file is named by a readable prefix and a short hash of that record,
`masks/<model>_<dataset>_<method>..._d<density>_seed<seed>_<hash>.npz`, and the record is stored
in the mask's metadata ("config", "config_hash"). `make_mask` skips a spec whose file already
exists with the same record, refuses to overwrite a file made from another record (unless
`force`), and otherwise prunes (or runs the IMP search) and writes the file atomically.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Union

import jax

from sketchjax import inputs, names
from sketchjax.atomic import check_writable
from sketchjax.data.metadata import dataset_info
from sketchjax.errors import SketchjaxError
from sketchjax.imp import IMPConfig, run_imp, search_name
from sketchjax.masks import Mask, load_mask, save_mask
from sketchjax.models.registry import create_model, init_model
from sketchjax.pruning import PruneConfig, prune
from sketchjax.records import config_differences, config_hash

DEFAULT_MASKS_DIR = "masks"


@dataclasses.dataclass(frozen=True)
class MaskSpec:
    """Everything that determines a mask.

    Attributes:
      model, dataset: registry names.
      config: a PruneConfig (one-shot or iterative scoring) or an IMPConfig (the IMP search).
      num_classes: the classifier's width; None = the dataset's.
    """
    model: str
    dataset: str
    config: Union[PruneConfig, IMPConfig]
    num_classes: Optional[int] = None

    @property
    def method(self) -> str:
        return "imp" if isinstance(self.config, IMPConfig) else self.config.method

    def validated(self) -> "MaskSpec":
        """Names, config and class count checked (cheap); IMP defaults filled in from the
        model registry, so equal searches get equal records however they were written."""
        info = dataset_info(self.dataset)
        classes = info.num_classes if self.num_classes is None else self.num_classes
        create_model(self.model, classes)
        if isinstance(self.config, IMPConfig):
            config = self.config.resolved(self.model, self.dataset)
        else:
            config = self.config.validate()
        return dataclasses.replace(self, config=config, num_classes=classes)

    def record(self) -> dict[str, Any]:
        """The record the file is named by (call on a validated spec)."""
        return {"model": self.model, "dataset": self.dataset, "num_classes": self.num_classes,
                "method": self.method, "config": self.config.record()}

    def file_name(self) -> str:
        """<readable prefix>_<hash>.npz (call on a validated spec)."""
        c = self.config
        parts = [self.model, self.dataset, self.method]
        if self.method == "synflow" and c.synflow_input != "ones":
            parts.append(c.synflow_input)
        if self.method in names.DATA_SCORERS + ("imp",):
            parts.append(c.data)
        parts.append(c.selection + ("_repl" if getattr(c, "replacement", False) else ""))
        rule = getattr(c, "sampling_rule", None)
        if rule not in (None, "positive"):
            parts.append(rule)
        parts += [f"d{c.density:g}", f"seed{c.seed}", config_hash(self.record())]
        return "_".join(parts) + ".npz"


class MaskOutcome(NamedTuple):
    """What `make_mask` returns: the file, the mask, and whether it was computed now."""
    path: Path
    mask: Mask
    computed: bool


def _existing(path: Path, record: dict, force: bool) -> Optional[Mask]:
    """The mask at `path` if it was made from `record`; None if it must be (re)computed."""
    if not path.exists() or force:
        return None
    try:
        mask = load_mask(path)
    except SketchjaxError as err:
        raise SketchjaxError(f"{path} exists and is not a readable mask file ({err}); remove "
                             "it, choose another output, or pass --force") from None
    saved = mask.metadata.get("config")
    if saved is None:
        raise SketchjaxError(f"{path} holds a mask with no config record (an older version?); "
                             "choose another output or pass --force to replace it")
    diffs = config_differences(saved, record)
    if diffs:
        raise SketchjaxError(f"{path} holds a mask made with another config (differs in "
                             f"{', '.join(diffs)}); choose another output or pass --force "
                             "to replace it")
    return mask


def mask_path(spec: MaskSpec, out: Optional[str | os.PathLike] = None,
              masks_dir: str | os.PathLike = DEFAULT_MASKS_DIR) -> Path:
    """Where `make_mask` writes the validated spec's mask: `out`, or masks_dir/<file name>."""
    return Path(out) if out is not None else Path(masks_dir) / spec.file_name()


def make_mask(spec: MaskSpec, *, out: Optional[str | os.PathLike] = None,
              masks_dir: str | os.PathLike = DEFAULT_MASKS_DIR, force: bool = False,
              data_dir=None, progress: bool = True,
              log: Callable[[str], None] = print) -> MaskOutcome:
    """The mask of `spec`, from its file when it exists, else computed and written.

    Args:
      spec: what to prune.
      out: the file; None = masks_dir/<readable prefix>_<hash>.npz.
      masks_dir: folder of the default names.
      force: recompute and overwrite even when the file exists (an IMP search folder beside
        the file, `imp.search_name(...)`, is resumed as it is; delete it to start over).
      data_dir: tfds data dir / offline cache dir (real prune batches, IMP training).
      progress: progress bars.
      log: one line on a skip and per IMP level.
    Returns:
      MaskOutcome(path, mask, computed).
    Raises:
      SketchjaxError: a bad spec, an unwritable path, or a file there made from another
        config (checked before any work).
    """
    spec = spec.validated()
    record = spec.record()
    path = check_writable(mask_path(spec, out, masks_dir))
    existing = _existing(path, record, force)
    if existing is not None:
        log(f"{path} exists with the same config; skipped (--force recomputes)")
        return MaskOutcome(path, existing, False)
    if isinstance(spec.config, IMPConfig):
        # One search folder per search, shared by its target densities.
        workdir = path.parent / search_name(spec.model, spec.dataset, spec.config)
        mask = run_imp(spec.model, spec.dataset, spec.config, workdir, data_dir=data_dir,
                       num_classes=spec.num_classes, progress=progress, log=log).mask
    else:
        config = spec.config
        real_data = None
        if config.method in names.DATA_SCORERS and config.data == "real":
            real_data = inputs.real_batches(spec.dataset, config.num_batches,
                                            config.batch_size, config.seed, data_dir)
        bundle = init_model(spec.model, spec.dataset, jax.random.key(config.seed),
                            num_classes=spec.num_classes)
        mask = prune(bundle, config, dataset=spec.dataset, real_data=real_data,
                     progress=progress)
    mask = Mask(mask.arrays, dict(mask.metadata, config=record,
                                  config_hash=config_hash(record)))
    save_mask(path, mask)
    return MaskOutcome(path, mask, True)

"""Masks named by their config: the pruning stage of every run, computed once.

A mask is determined by its `MaskSpec` (model, dataset, class count and the pruning method with
all its options, seed included). Its file is named by a readable prefix and a short hash of that
record (`records.identity_name`): `masks/<model>_<dataset>_<method>..._d<density>_seed<seed>_
<hash>.npz`, and the record is stored in the mask's metadata ("config", "config_hash").
`make_mask` skips a spec whose file already exists with the same record, refuses to overwrite a
file made from another record (unless `force`), and otherwise has the method compute the mask
(`Method.compute`: the pruning loop, or the IMP search) and writes the file atomically.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

from sketchjax.atomic import check_writable
from sketchjax.data.metadata import dataset_info
from sketchjax.errors import SketchjaxError
from sketchjax.masks import Mask, load_mask, save_mask
from sketchjax.methods import Method
from sketchjax.models.registry import create_model
from sketchjax.records import config_differences, config_hash, identity_name

DEFAULT_MASKS_DIR = "masks"


@dataclasses.dataclass(frozen=True)
class MaskSpec:
    """Everything that determines a mask.

    Attributes:
      model, dataset: registry names.
      config: the pruning method with its options (`sketchjax.methods`: SynFlow, SNIP, GraSP,
        Magnitude, Random, IMP or any registered method).
      num_classes: the classifier's width; None = the dataset's.
    """
    model: str
    dataset: str
    config: Method
    num_classes: Optional[int] = None

    @property
    def method(self) -> str:
        return self.config.name

    def validated(self) -> "MaskSpec":
        """Names, options and class count checked (cheap); defaults that depend on the model
        (IMP's) filled in, so equal configs get equal records however they were written."""
        if not isinstance(self.config, Method):
            raise SketchjaxError(f"a mask's config must be a pruning method "
                                 f"(sketchjax.methods), got {type(self.config).__name__}")
        info = dataset_info(self.dataset)
        classes = info.num_classes if self.num_classes is None else self.num_classes
        create_model(self.model, classes)
        return dataclasses.replace(self, config=self.config.validated(self.model, self.dataset),
                                   num_classes=classes)

    def record(self) -> dict[str, Any]:
        """The record the file is named by (call on a validated spec)."""
        return {"model": self.model, "dataset": self.dataset, "num_classes": self.num_classes,
                "method": self.method, "config": self.config.record()}

    def file_name(self) -> str:
        """<model>_<dataset>_<method's parts>_d<density>_seed<seed>_<hash>.npz (call on a
        validated spec)."""
        c = self.config
        return identity_name([self.model, self.dataset, *c.name_parts(), f"d{c.density:g}",
                              f"seed{c.seed}"], self.record()) + ".npz"


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
      log: one line per IMP level.
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
        return MaskOutcome(path, existing, False)
    mask = spec.config.compute(spec.model, spec.dataset, spec.num_classes, path,
                               data_dir=data_dir, progress=progress, log=log)
    mask = Mask(mask.arrays, dict(mask.metadata, config=record,
                                  config_hash=config_hash(record)))
    save_mask(path, mask)
    return MaskOutcome(path, mask, True)

"""The files of a run folder, named in one place, and the metric writers.

A run folder holds config.json (the record that names the run), metrics.csv and metrics.json
(one row per seed and evaluated epoch), tensorboard/seed_<s>/ (event files), checkpoints/
(orbax) and, written last, seed_<s>/record.json for each seed (`run_record`): a run whose
seeds all have their record is finished.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import os
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from sketchjax.atomic import atomic_write_text
from sketchjax.records import write_json

RECORD_FILE = "record.json"


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """Every file of a run folder, named in one place."""
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def metrics_csv(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def metrics_json(self) -> Path:
        return self.root / "metrics.json"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def record(self, seed: int) -> Path:
        """Seed `seed`'s run record."""
        return self.root / f"seed_{seed}" / RECORD_FILE


class ScalarWriter:
    """TensorBoard scalars: tensorboard's record format written with plain file I/O.

    tensorboard's EventFileWriter would import TensorFlow (for gfile); its RecordWriter and
    protos do not, so runs on offline data never load TensorFlow.
    """

    def __init__(self, logdir: Path):
        import socket
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.summary.writer.record_writer import RecordWriter
        logdir.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
        self._file = open(logdir / name, "wb")
        self._records = RecordWriter(self._file)
        self._records.write(Event(wall_time=time.time(),
                                  file_version="brain.Event:2").SerializeToString())

    def scalars(self, step: int, values: Mapping[str, Optional[float]]) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        summary = Summary(value=[Summary.Value(tag=k, simple_value=float(v))
                                 for k, v in values.items() if v is not None])
        self._records.write(Event(wall_time=time.time(), step=int(step),
                                  summary=summary).SerializeToString())
        self._file.flush()

    def close(self) -> None:
        self._file.close()


_CSV_FIELDS = ("seed", "epoch", "step", "lr", "train_loss", "train_accuracy", "test_loss",
               "test_accuracy", "epoch_seconds")


def write_metrics(paths: RunPaths, history: Sequence[Mapping[str, Any]]) -> None:
    """metrics.csv and metrics.json from the history rows, atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in _CSV_FIELDS})
    atomic_write_text(paths.metrics_csv, buf.getvalue())
    write_json(paths.metrics_json, list(history))

"""Claims on groups of runs, so that several runners (processes or hosts) on one output folder
split the work: a runner claims a group before it starts it, and nothing is done twice.

A claim is the file DIR/claims/<key>.json, created atomically (O_CREAT | O_EXCL: exactly one
creator wins) with the claimant's host, process id and a random token. While the group runs, a
heartbeat thread refreshes the file's modification time every STALE_AFTER_S / 4 seconds; the
claim is removed when the group's records are written (or the runner stops). A claim is
stale, and is taken over, when its process is gone (same host) or its file has not been
refreshed for STALE_AFTER_S seconds (any host: a runner killed on another machine). A takeover
replaces the file atomically and then reads it back: of two runners taking over at once, the
one whose token is in the file proceeds.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator, Optional

from sketchjax.atomic import atomic_write_text

CLAIMS_DIR = "claims"
STALE_AFTER_S = 600.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # another user's live process
        return True
    return True


def _read(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def is_stale(path: Path, stale_after: float = STALE_AFTER_S) -> bool:
    """Whether the claim at `path` belongs to a dead process (same host) or was not refreshed
    for `stale_after` seconds. A claim being written (unreadable yet) is fresh."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True
    record = _read(path)
    if record is not None and record.get("host") == socket.gethostname() \
            and not _alive(int(record.get("pid", -1))):
        return True
    return age > stale_after


@contextlib.contextmanager
def claim(out: str | os.PathLike, key: str,
          stale_after: float = STALE_AFTER_S) -> Iterator[Optional[dict]]:
    """Hold the claim on `key` for the body; yields the claim record, or None when another live
    runner holds it (the body must then skip the work).

    Args:
      out: the output folder shared by the runners.
      key: what is claimed (a group's shard key).
      stale_after: seconds without a heartbeat after which a claim is taken over.
    """
    path = Path(out) / CLAIMS_DIR / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex,
              "since": time.time()}
    text = json.dumps(record)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    except FileExistsError:
        if not is_stale(path, stale_after):
            yield None
            return
        atomic_write_text(path, text)          # take over the stale claim
        if (_read(path) or {}).get("token") != record["token"]:
            yield None                         # another runner took it over first
            return
    stop = threading.Event()

    def heartbeat():
        while not stop.wait(stale_after / 4):
            with contextlib.suppress(OSError):
                os.utime(path)
    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    try:
        yield record
    finally:
        stop.set()
        beat.join()
        if (_read(path) or {}).get("token") == record["token"]:
            path.unlink(missing_ok=True)

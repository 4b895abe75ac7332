"""Atomic writes leave nothing half-written; the writability check creates nothing."""
import numpy as np
import pytest

from sketchjax.atomic import atomic_savez, atomic_write, check_writable
from sketchjax.errors import SketchjaxError


def test_check_writable_accepts_new_folders_and_creates_nothing(tmp_path):
    assert check_writable(tmp_path / "a" / "b" / "m.npz") == tmp_path / "a" / "b" / "m.npz"
    assert check_writable(tmp_path / "run", folder=True) == tmp_path / "run"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("target,folder,message", [
    ("blocker/sub/m.npz", False, "is not a folder"),
    ("blocker", True, "exists and is not a folder"),
    ("dir", False, "is a folder"),
])
def test_check_writable_refuses_clearly(tmp_path, target, folder, message):
    (tmp_path / "blocker").write_text("x")
    (tmp_path / "dir").mkdir()
    with pytest.raises(SketchjaxError, match=message):
        check_writable(tmp_path / target, folder=folder)
    assert (tmp_path / "blocker").read_text() == "x"


def test_check_writable_tries_a_real_file_not_just_permissions():
    # os.access says root may write to /proc; creating a file there fails.
    with pytest.raises(SketchjaxError, match="not writable"):
        check_writable("/proc/x.npz")


def test_interrupted_write_leaves_no_file(tmp_path):
    def boom(f):
        f.write(b"partial")
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "x.bin", boom)
    assert list(tmp_path.iterdir()) == []
    atomic_savez(tmp_path / "y.npz", {"a": np.arange(3)})
    assert [p.name for p in tmp_path.iterdir()] == ["y.npz"]


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    import os
    previous = os.umask(umask)
    try:
        path = atomic_write(tmp_path / f"f{umask}", lambda f: f.write(b"x"))
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == mode

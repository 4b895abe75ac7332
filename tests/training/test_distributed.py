"""Training on two processes (JAX's distributed runtime, gloo collectives on CPU) equals one
process; checkpoints are written once and a two-process run resumes from them."""
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sketchjax import trees
from sketchjax import training as T
from sketchjax.errors import SketchjaxError
from sketchjax.training.distributed import initialize

REPO = Path(__file__).resolve().parents[2]

_WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    from sketchjax.training.distributed import initialize
    port, pid, out, epochs, resume = sys.argv[1:6]
    initialize(f"127.0.0.1:{port}", 2, int(pid))
    import jax
    from sketchjax import training as T, trees
    assert jax.process_count() == 2 and len(jax.devices()) == 2, jax.devices()
    config = T.preset("lenet", epochs=int(epochs), batch_size=60)
    plan = T.plan_run("lenet_300_100", "digits", config, out=out, resume=resume == "1")
    result = T.train(plan, progress=False)
    params = jax.device_get(result.state.params)
    np.savez(f"{out}/params_{pid}.npz", **trees.flatten(params))
    print("DONE", jax.process_index(), result.records[0]["devices"] if result.records else None)
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_processes(out: Path, epochs: int, resume: bool) -> list[str]:
    port = _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(port), str(pid), str(out),
                               str(epochs), "1" if resume else "0"], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for pid in (0, 1)]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr[-3000:]
        outs.append(stdout)
    return outs


def _params(path: Path) -> dict:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def test_two_processes_train_like_one_and_resume_from_one_checkpoint(tmp_path):
    out = tmp_path / "run"
    outs = _two_processes(out, epochs=1, resume=False)
    assert "DONE 0 2" in outs[0] and "DONE 1 2" in outs[1]
    # One run folder, one set of files, written by process 0 / collectively by orbax.
    summary = json.loads((out / "seed_0" / "record.json").read_text())
    assert summary["devices"] == 2 and summary["epochs"] == 1
    steps = sorted(int(p.name) for p in (out / "checkpoints").iterdir() if p.name.isdigit())
    assert steps == [1437 // 60]
    assert len(list((out / "tensorboard").iterdir())) == 1
    one = T.train(T.plan_run("lenet_300_100", "digits", T.preset("lenet", epochs=1,
                                                                  batch_size=60)),
                  progress=False)
    expected = trees.flatten(one.state.params)
    for pid in (0, 1):
        got = _params(out / f"params_{pid}.npz")
        for path, value in expected.items():
            np.testing.assert_allclose(got[path], np.asarray(value), atol=2e-5)
    # Resumed on two processes for a second epoch: as an uninterrupted two-epoch run.
    _two_processes(out, epochs=2, resume=True)
    two = T.train(T.plan_run("lenet_300_100", "digits", T.preset("lenet", epochs=2,
                                                                  batch_size=60)),
                  progress=False)
    got = _params(out / "params_0.npz")
    for path, value in trees.flatten(two.state.params).items():
        np.testing.assert_allclose(got[path], np.asarray(value), atol=5e-5)
    assert json.loads((out / "seed_0" / "record.json").read_text())["epochs"] == 2


def test_partial_distributed_flags_are_one_clear_error():
    with pytest.raises(SketchjaxError, match="together"):
        initialize("127.0.0.1:1234", None, 0)
    with pytest.raises(SketchjaxError, match="process-id"):
        initialize("127.0.0.1:1234", 2, 2)

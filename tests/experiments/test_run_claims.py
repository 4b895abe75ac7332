"""Claims on groups of runs: exclusive, released, taken over when stale, kept fresh."""
import json
import os
import socket
import subprocess
import time

from sketchjax.experiments import run_claims


def test_a_claim_is_exclusive_and_released(tmp_path):
    with run_claims.claim(tmp_path, "k") as first:
        assert first is not None and first["pid"] == os.getpid()
        with run_claims.claim(tmp_path, "k") as second:
            assert second is None                       # a live runner holds it
        with run_claims.claim(tmp_path, "other") as third:
            assert third is not None
    assert not (tmp_path / "claims" / "k.json").exists()
    with run_claims.claim(tmp_path, "k") as again:
        assert again is not None


def _claim_file(tmp_path, **record):
    path = tmp_path / "claims" / "k.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def test_a_claim_of_a_dead_process_on_this_host_is_taken_over(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    _claim_file(tmp_path, host=socket.gethostname(), pid=dead.pid, token="x")
    with run_claims.claim(tmp_path, "k") as held:
        assert held is not None and held["token"] != "x"


def test_a_claim_from_another_host_is_stale_only_without_heartbeat(tmp_path):
    path = _claim_file(tmp_path, host="elsewhere", pid=1, token="x")
    with run_claims.claim(tmp_path, "k", stale_after=60) as held:
        assert held is None                             # fresh: its runner may be working
    old = time.time() - 120
    os.utime(path, (old, old))
    with run_claims.claim(tmp_path, "k", stale_after=60) as held:
        assert held is not None                         # not refreshed for 2 minutes


def test_a_held_claim_is_refreshed_by_its_heartbeat(tmp_path):
    with run_claims.claim(tmp_path, "k", stale_after=0.2):
        path = tmp_path / "claims" / "k.json"
        old = time.time() - 100
        os.utime(path, (old, old))
        time.sleep(0.3)
        assert time.time() - path.stat().st_mtime < 1.0
        assert not run_claims.is_stale(path, stale_after=0.2 + 1.0)

"""`make run` / `make test` as root from a folder only its owner may enter (a home directory, a
`mktemp -d`): PostgreSQL runs as `nobody`, which cannot reach .venv or var/ there."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from analytics_project import devstack


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another user")
def test_a_private_checkout_gets_its_cluster_in_a_reachable_folder(tmp_path, monkeypatch):
    private = tmp_path / "home"
    (private / "checkout" / "var").mkdir(parents=True)
    private.chmod(0o700)
    reachable = Path(f"/tmp/devstack-relocate-test-{os.getpid()}")
    monkeypatch.setattr(devstack, "RELOCATED", reachable)
    monkeypatch.setattr(devstack, "ROOT", private / "checkout")
    data = private / "checkout" / "var" / "postgres"
    try:
        programs, relocated = devstack.pg_layout(devstack._pg_install(), data, "nobody")
        assert str(relocated).startswith(str(reachable)) and data.is_symlink() and data.resolve() == relocated
        # What `nobody` could not do from the private folder: initdb, start, answer, stop.
        relocated.mkdir()
        os.chown(relocated, 65534, 65534)
        run = {"user": "nobody", "cwd": "/", "check": True, "capture_output": True}
        subprocess.run([str(programs / "bin" / "initdb"), "-D", str(relocated), "-U", "postgres", "--auth=trust",
                        "--no-sync"], **run)
        port = devstack.free_port(0)
        subprocess.run([str(programs / "bin" / "pg_ctl"), "-D", str(relocated), "-o", f"-p {port} -h 127.0.0.1 -k ''",
                        "-w", "-l", str(relocated / "log"), "start"], **run)
        try:
            answer = subprocess.run([str(programs / "bin" / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U",
                                     "postgres", "-tAc", "SELECT 41 + 1"], capture_output=True, text=True, check=True)
            assert answer.stdout.strip() == "42"
        finally:
            subprocess.run([str(programs / "bin" / "pg_ctl"), "-D", str(relocated), "-m", "fast", "-w", "stop"],
                           **run)
        # The owner's folder was not opened to others.
        assert not private.stat().st_mode & stat.S_IXOTH
        # A second start finds the same copy and cluster.
        assert devstack.pg_layout(devstack._pg_install(), data, "nobody") == (programs, relocated)
    finally:
        subprocess.run(["rm", "-rf", str(reachable)], check=False)


def test_a_reachable_checkout_keeps_its_own_folders(tmp_path):
    install = devstack._pg_install()
    data = Path("/tmp") / f"devstack-open-{os.getpid()}"
    assert devstack.pg_layout(install, data, "nobody") == (install, data)
    assert devstack.pg_layout(install, tmp_path / "x", None) == (install, tmp_path / "x")

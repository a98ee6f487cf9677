"""One writer per directory, and no half-written version: with real processes, run concurrently and killed.

A second ``tfvae train`` (or ``tfvae export``) on an ``--out`` that another process is writing is refused with one
error line naming the directory and the owner's PID (exit status 2); a lock left by a process killed with SIGKILL
blocks nobody; an export killed at any moment leaves no numbered version directory that fails to load, and the next
export succeeds and removes the leftovers.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO
from tfvae.cli import main
from tfvae.ownership import LOCK_FILE, DirectoryInUseError, owned

FAST = [
    "--validation-size",
    "128",
    "--hidden-units",
    "32",
    "--latent-dim",
    "4",
    "--verbose",
    "0",
    "--steps-per-execution",
    "1",
    "--jit-compile",
    "off",
]
# A process that owns a directory until it is killed, without loading TensorFlow.
HOLDER = """
import sys, time
from tfvae.ownership import owned
with owned(sys.argv[1], sys.argv[2]):
    time.sleep(600)
"""


def start(*args):
    """``python -m tfvae ARGS`` started in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "tfvae", *map(str, args)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "tfvae", *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=300
    )


def errors(result):
    return [line for line in result.stderr.splitlines() if "error:" in line]


def wait_until(condition, process, timeout=120):
    """Polls ``condition()`` while ``process`` lives; fails if it ends first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"exited with {process.returncode}: {process.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def owned_by(directory, process):
    """Whether ``directory``'s lock file names ``process`` (written just after it took the lock)."""
    try:
        return (directory / LOCK_FILE).read_text().split()[:1] == [str(process.pid)]
    except FileNotFoundError:
        return False


def kill(process):
    process.send_signal(signal.SIGKILL)
    process.wait()


# --- the lock itself, without TensorFlow --------------------------------------


def test_claims_nest_and_leave_nothing_behind(tmp_path):
    out = tmp_path / "new"
    with owned(out, "train") as directory:
        assert (directory / LOCK_FILE).read_text() == f"{os.getpid()} train\n"
        with owned(out, "export"):  # this process owns it already
            pass
        assert (out / LOCK_FILE).exists()
    assert not out.exists()  # the claim made the directory and nothing was written there
    out.mkdir()
    with owned(out, "train"):
        (out / "kept").write_text("x")
    assert sorted(p.name for p in out.iterdir()) == ["kept"]


def test_a_directory_owned_by_another_process_is_refused_naming_it(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out), "train"], cwd=REPO)
    try:
        wait_until(lambda: owned_by(out, holder), holder)
        with pytest.raises(DirectoryInUseError, match=rf"^{out} is in use: 'tfvae train' \(PID {holder.pid}\)"):
            with owned(out, "train"):
                pass
        assert owned_by(out, holder)  # the refused claim changed nothing
    finally:
        kill(holder)
    with owned(out, "train"):  # the kernel dropped the dead holder's lock; its file is reused
        assert (out / LOCK_FILE).read_text() == f"{os.getpid()} train\n"


# --- tfvae train ---------------------------------------------------------------


def test_a_second_train_into_the_same_out_is_refused_naming_the_owner(tmp_path, tiny_idx_dir):
    out = tmp_path / "run"
    args = ["train", "--data-dir", tiny_idx_dir, *FAST, "--out", out]
    owner = start(*args, "--epochs", "1000")
    try:
        wait_until(lambda: owned_by(out, owner), owner)
        second = run_cli(*args, "--epochs", "1")
        assert second.returncode == 2, second.stderr[-2000:]
        assert errors(second) == [
            f"tfvae: error: {out} is in use: 'tfvae train' (PID {owner.pid}) is writing it; "
            "wait for it to end, or use another --out"
        ]
        assert owner.poll() is None  # the owner trains on
    finally:
        kill(owner)


def test_a_lock_left_by_a_killed_train_blocks_nothing(tmp_path, tiny_idx_dir):
    out = tmp_path / "run"
    args = ["train", "--data-dir", tiny_idx_dir, *FAST, "--out", out]
    owner = start(*args, "--epochs", "1000")
    try:
        # A backup of either Keras: tf_keras's checkpoint index, Keras 3's latest.weights.h5 (renamed into place
        # once whole: the kill may still fall while a later epoch's partial file is written).
        backup = out / "backup"
        wait_until(lambda: any(backup.rglob("*.index")) or (backup / "latest.weights.h5").exists(), owner)
    finally:
        kill(owner)
    assert owned_by(out, owner)  # its lock file stays, with its PID, but nothing holds the lock
    done = len((out / "history.csv").read_text().splitlines()) - 1
    result = run_cli(*args, "--epochs", str(done + 1))  # resumes, one more epoch
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resuming the run" in result.stdout
    assert (out / "metrics.json").exists() and not (out / LOCK_FILE).exists()


# --- tfvae export ----------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_idx_dir):
    """A 1-epoch run, and a base directory holding its complete version 1."""
    root = tmp_path_factory.mktemp("exported")
    run, base = root / "run", root / "served"
    assert main(["train", "--data-dir", str(tiny_idx_dir), *FAST, "--epochs", "1", "--out", str(run)]) == 0
    assert main(["export", str(run), "--out", str(base)]) == 0
    return run, base


def test_an_export_into_an_owned_base_is_refused_naming_the_owner(exported, tmp_path, capsys):
    run, _ = exported
    base = tmp_path / "served"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(base), "export"], cwd=REPO)
    try:
        wait_until(lambda: owned_by(base, holder), holder)
        assert main(["export", str(run), "--out", str(base)]) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith(f"tfvae: error: {base} is in use: 'tfvae export' (PID {holder.pid})"), error
        assert sorted(p.name for p in base.iterdir()) == [LOCK_FILE]  # no version chosen or written
    finally:
        kill(holder)


@pytest.mark.parametrize("seconds", [0.5, 2.0, 4.0])
def test_an_export_killed_while_writing_leaves_no_broken_version(exported, tmp_path, seconds):
    """Killed ``seconds`` after it started writing version 2 (its staging directory appeared)."""
    from tfvae.backend import tf

    run, complete = exported
    base = tmp_path / "served"
    shutil.copytree(complete, base)
    exporter = start("export", run, "--out", base, "--tflite")
    try:
        wait_until(lambda: any(base.glob(".tmp-2-*")), exporter)
        time.sleep(seconds)
    finally:
        kill(exporter)
    versions = sorted(p.name for p in base.iterdir() if p.name.isdigit())
    assert versions in (["1"], ["1", "2"])  # version 2 complete or absent
    if seconds < 1:  # half a second into a write of several seconds: killed mid-write, its staging left behind
        assert versions == ["1"] and any(base.glob(".tmp-2-*"))
    for version in versions:
        assert "reconstruct" in tf.saved_model.load(str(base / version)).signatures
    # The next export takes the dead exporter's lock, deletes its leftovers and writes the next version.
    assert main(["export", str(run), "--out", str(base)]) == 0
    last = str(len(versions) + 1)
    assert sorted(p.name for p in base.iterdir()) == [*versions, last]
    assert {"saved_model.pb", "tfvae.json", "metrics.json"} <= {p.name for p in (base / last).iterdir()}

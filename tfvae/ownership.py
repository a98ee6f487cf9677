"""One writer per output directory: ``tfvae train --out RUN`` and ``tfvae export --out NAME`` own what they write.

``owned(directory, command)`` holds an exclusive ``fcntl.flock`` on
``directory/.tfvae.lock`` for as long as the ``with`` block runs. The lock
belongs to the open file, so the kernel drops it when the process ends, however
it ends: a run killed with ``kill -9`` leaves at most an unlocked file behind,
which blocks nobody. The file holds the owner's PID and command only so that a
refused process can name them::

    tfvae: error: runs/a is in use: 'tfvae train' (PID 4242) is writing it; wait for it to end, or use another --out

A second claim on a directory that this process already owns succeeds (claims
nest), so ``tfvae.training.train`` and the ``tfvae.export`` functions claim
their directory themselves and the commands may claim it around them.

On leaving, the owner deletes the lock file (and the directory, if the claim
created it and nothing was written there). A process that opened the file just
before it was deleted would then hold a lock on a deleted file; ``owned``
therefore checks, once locked, that the path still names the file it locked,
and starts over if not.
"""

import contextlib
import fcntl
import os
import time
from pathlib import Path

LOCK_FILE = ".tfvae.lock"
# Seconds a refused process waits for the owner to write its PID (it writes it just after locking).
PID_WAIT = 1.0

_held = {}  # real path of an owned directory -> nesting depth


class DirectoryInUseError(Exception):
    """Another process owns the directory (``tfvae`` reports it as a usage error, exit status 2)."""


@contextlib.contextmanager
def owned(directory: str | Path, command: str):
    """Owns ``directory`` (created if missing) for the ``with`` block; yields its ``Path``.

    Args:
        directory: the run directory or export base directory to write.
        command: what the owner is doing (``"train"``, ``"export"``), for a refused process's message.

    Raises:
        DirectoryInUseError: another live process owns it; the message names it and its PID.
        FileExistsError: ``directory`` is a file.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"{directory} is a file, not a directory; choose another --out")
    key = os.path.realpath(directory)
    if key in _held:  # this process owns it already
        _held[key] += 1
        try:
            yield directory
        finally:
            _held[key] -= 1
        return
    created = not directory.exists()
    fd = _lock(directory, command)
    _held[key] = 1
    try:
        yield directory
    finally:
        del _held[key]
        _unlock(directory, fd, created)


def _lock(directory, command):
    """The descriptor of ``directory/LOCK_FILE``, locked by this process with its PID written in it."""
    path = directory / LOCK_FILE
    while True:
        directory.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:  # the previous owner removed the directory it had created: make it again
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise DirectoryInUseError(
                f"{directory} is in use: {holder} is writing it; wait for it to end, or use another --out"
            ) from None
        try:
            current = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)  # we locked a file its owner deleted on leaving: the next owner is whoever locks the new one
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
    return fd


def _holder(fd):
    """The owner as ``'tfvae COMMAND' (PID N)``, read from the lock file (waiting briefly for a new owner to write
    it)."""
    deadline = time.monotonic() + PID_WAIT
    while True:
        fields = os.pread(fd, 200, 0).decode(errors="replace").split()
        if fields and fields[0].isdigit():
            command = f"'tfvae {fields[1]}'" if len(fields) > 1 else "a tfvae process"
            return f"{command} (PID {fields[0]})"
        if time.monotonic() > deadline:
            return "another tfvae process (PID not recorded)"
        time.sleep(0.05)


def _unlock(directory, fd, created):
    """Deletes the lock file (and ``directory``, if this claim created it and it is empty), then unlocks."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(directory / LOCK_FILE)
    if created:
        with contextlib.suppress(OSError):
            directory.rmdir()
    os.close(fd)

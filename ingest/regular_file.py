"""Reading one catalog CSV safely: only a regular file (a symlink is followed to one), at most MAX_CSV_BYTES, and
never blocking. A file that vanished mid-build, a dangling symlink, a directory named *.csv, a named pipe (which
would block a plain open() forever) or a link to a device file is one clear reason, never a traceback."""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_CSV_BYTES = 64 * 1024 * 1024  # the catalog's CSVs are kilobytes; anything near this is not a table


class DataFileError(Exception):
    """Why a data file could not be read (the message is the reason, without the path)."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_regular_file(path: Path, max_bytes: int = MAX_CSV_BYTES) -> bytes:
    """The file's bytes; DataFileError with the reason otherwise."""
    try:
        before = os.stat(path)  # follows a symlink: a dangling one is FileNotFoundError
    except FileNotFoundError:
        raise DataFileError("the file is gone (deleted while reading, or a symlink to nothing)") from None
    except OSError as exc:
        raise DataFileError(f"cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(before.st_mode):
        raise DataFileError(f"is {_kind(before.st_mode)}, not a regular file; only regular files are read")
    if before.st_size > max_bytes:
        raise DataFileError(f"is {before.st_size:,} bytes, more than the {max_bytes:,}-byte limit for a data file")
    try:
        # O_NONBLOCK: if a pipe was swapped in after the check above, opening it must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DataFileError("the file is gone (deleted while reading)") from None
    except OSError as exc:
        raise DataFileError(f"cannot be read: {exc.strerror or exc}") from None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise DataFileError(f"is {_kind(opened.st_mode)}, not a regular file; only regular files are read")
        # The first read asks for the whole file and one byte more, so a file that did not change is read by one
        # call into one buffer (no copy to join; half the time of 1 MB reads on a 34 MB file); a file that grew
        # meanwhile is read on to its end, within the limit.
        chunks, total = [], 0
        want = min(opened.st_size, max_bytes) + 1
        while True:
            chunk = os.read(fd, want)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise DataFileError(f"grew past the {max_bytes:,}-byte limit for a data file while being read")
            chunks.append(chunk)
            want = 1024 * 1024
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except OSError as exc:
        raise DataFileError(f"cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)

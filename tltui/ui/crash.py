"""What the tutor does with an exception nobody handled: the traceback goes to a log file in the data
dir, and the learner gets one line that names it."""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

from tltui.core.files import UnsafePath
from tltui.core.paths import private_data_dir

FILENAME = "crash.log"


def record(error: BaseException) -> Path | None:
    """Append ``error``'s traceback to the crash log (0600, never through a symlink) in the private data
    dir; its path, or None if it could not be written."""
    text = f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n{''.join(traceback.format_exception(error))}\n"
    try:
        path = private_data_dir() / FILENAME
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as log:
            log.write(text)
    except (OSError, UnsafePath):
        return None
    return path


def one_line(error: BaseException, log: Path | None) -> str:
    """The line for stderr: what went wrong, and where the whole story is."""
    what = f"{type(error).__name__}: {error}".splitlines()[0][:160]
    where = f"the traceback is in {log}" if log else "the traceback could not be written to the data dir"
    return f"tltui stopped on an internal error ({what}); {where}. Please report it."

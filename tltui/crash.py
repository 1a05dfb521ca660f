"""What the tutor does with an exception nobody handled: the traceback goes to a log file in the data
dir, and the learner gets one line that names it."""

from __future__ import annotations

import time
import traceback
from pathlib import Path

from tltui.paths import data_dir

FILENAME = "crash.log"


def record(error: BaseException) -> Path | None:
    """Append ``error``'s traceback to the crash log; its path, or None if it could not be written."""
    path = data_dir() / FILENAME
    text = "".join(traceback.format_exception(error))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n{text}\n")
    except OSError:
        return None
    return path


def one_line(error: BaseException, log: Path | None) -> str:
    """The line for stderr: what went wrong, and where the whole story is."""
    what = f"{type(error).__name__}: {error}".splitlines()[0][:160]
    where = f"the traceback is in {log}" if log else "the traceback could not be written to the data dir"
    return f"tltui stopped on an internal error ({what}); {where}. Please report it."

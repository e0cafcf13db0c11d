"""`python -m conformance.campaign.launch PYTEST_ARGS…`: the campaign's pytest process, without the
interpreter's teardown at its end.

Once `pytest.main` has returned, the campaign has nothing left to do: the plugin stopped the SUT and
the counterparts in its session finish, and every file of the run (evidence, `results.json`,
`report.html`, `junit.xml`, the journal) was written and closed. Tearing the interpreter down (every
module, every object of a campaign) still took 0.3 to 1.3 s of a busy CPU. So, when no other thread is
left, the process runs the atexit handlers (a plugin's, logging's flush), flushes its standard streams
and ends with `os._exit`, with pytest's exit status unchanged.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

import pytest

# Python exits 1 when its standard output is a pipe closed by its reader (pytest's own entry point too).
BROKEN_PIPE_STATUS = 1


def run_pytest(args: Sequence[str]) -> int:
    """pytest's status for `args`, as `python -m pytest ARGS` would exit with it."""
    try:
        status = int(pytest.main(list(args)))
        sys.stdout.flush()
    except BrokenPipeError:
        # As pytest's entry point does: no second BrokenPipeError when the streams are flushed again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE_STATUS
    return status


def others_running() -> bool:
    """Whether a thread the interpreter would wait for at its exit is still running."""
    main = threading.main_thread()
    return any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate())


def end(status: int) -> NoReturn:
    """Exit with `status` at once, unless a non-daemon thread still runs: then as Python does (it waits)."""
    if others_running():
        sys.exit(status)
    atexit._run_exitfuncs()  # what the interpreter would run first; none of its teardown after
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or gone: nothing more can reach it anyway
            stream.flush()
    os._exit(status)


def main(args: Sequence[str]) -> NoReturn:
    # The counterparts' RSA keys are generated on the other core while pytest starts, instead of in the
    # counterparts' start, which the first scenario waits for (a campaign that needs none of them, an
    # external provider's, spends a core's fraction of a second for nothing).
    from conformance.counterparts.signing_keys import generate_rsa_keys_ahead

    threading.Thread(target=generate_rsa_keys_ahead, name="psc-keys", daemon=True).start()
    end(run_pytest(args))


if __name__ == "__main__":
    main(sys.argv[1:])

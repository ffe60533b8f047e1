"""The `dvx` command of the wheel: the command line of the native module, in this process."""

import signal
import sys


def main() -> None:
    # Behave as the compiled binary: Ctrl-C ends the command at once (the command line cleans
    # up what an interrupted run leaves on its next run), a closed pipe is reported by Rust.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from dvx import _core

    sys.exit(_core.main(sys.argv[1:]))

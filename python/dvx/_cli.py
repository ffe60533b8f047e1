"""The `dvx` command of the wheel: the command line of the native module, in this process.

Start-up is the cost of this design (docs/ARCHITECTURE.md "Python"), so this module imports
nothing it can do without: `_signal` instead of `signal` (which imports `enum`), and the
package's `__init__` is the only other Python that runs before Rust.
"""

import sys


def main() -> None:
    """Runs `dvx` with this process's arguments and exits with its status."""
    try:
        import _signal as signal  # built into CPython: no Python import behind it
    except ImportError:  # another interpreter
        import signal
    # Behave as the compiled binary: Ctrl-C ends the command at once (the command line cleans
    # up what an interrupted run leaves on its next run). A closed pipe needs nothing here:
    # Python ignores SIGPIPE as Rust's runtime does, and the command line reports it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    # `dvx install-hooks` writes the command's path into git's hooks, and this process's
    # executable is the interpreter: name the console script (os is loaded by site already).
    import os

    command = sys.argv[0]
    if not os.path.basename(command).startswith("dvx") or command.endswith(".py"):
        # `python -m dvx`: the console script installed beside the interpreter.
        command = os.path.join(os.path.dirname(sys.executable), "dvx")
    os.environ["DVX_COMMAND"] = os.path.abspath(command)
    from dvx import _core

    sys.exit(_core.main(sys.argv[1:]))

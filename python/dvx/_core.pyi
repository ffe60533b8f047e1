"""The native half of the `dvx` module (Rust, PyO3): the command line as a function and the
operations of dvx-core. Not a public API: use `dvx` (docs/python.md)."""

from typing import Mapping, Sequence

def main(argv: Sequence[str]) -> int:
    """Runs the `dvx` command line with `argv` (without the program name) in this process,
    with the GIL released, and returns its exit status (0 success, 2 usage error, ...): the
    `dvx` command a wheel installs (`dvx._cli.main`)."""

def version() -> str:
    """The version of dvx, as `dvx --version` prints it after the name."""

def _register_errors(base: type, kinds: Mapping[str, type]) -> None:
    """Called once by `dvx/__init__.py`: the base exception class and the class of each
    error kind, which every failed call raises."""

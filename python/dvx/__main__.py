"""`python -m dvx ...`: the `dvx` command, for an environment whose scripts are not on PATH."""

from dvx._cli import main

if __name__ == "__main__":
    main()

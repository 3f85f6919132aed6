"""``python -m opencrate``: the same as the ``opencrate`` console script."""

from opencrate.cli.main import main

if __name__ == "__main__":
    main()

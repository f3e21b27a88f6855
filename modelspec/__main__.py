"""`python -m modelspec` runs the command-line interface."""

from modelspec.cli.main import main

if __name__ == "__main__":
    main()

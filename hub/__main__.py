"""Allow ``python -m hub`` as an alias of the ``dsar`` console script."""

from hub.cli import main

if __name__ == "__main__":
    main()

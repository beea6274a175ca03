"""``python -m devtools.graph_double``: the command lives in ``devtools.graph_double.cli``."""

from devtools.graph_double.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

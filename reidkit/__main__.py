"""`python -m reidkit` (and `torchrun -m reidkit`): run the installed `reidkit` console script.

The engine never imports the CLI layer by name; the entry point is looked up in the package
metadata, which an installed (or unpacked) wheel carries. The first distribution on sys.path wins.
"""

import sys
from importlib.metadata import entry_points

if __name__ == "__main__":
    scripts = list(entry_points(group="console_scripts", name="reidkit"))
    if not scripts:
        sys.exit("error: reidkit's package metadata was not found; install it (pip install -e .)")
    scripts[0].load()()

"""`python -m reidkit` (and `torchrun -m reidkit`): run the installed `reidkit` console script.

The engine never imports the CLI layer by name; the entry point is looked up in the package
metadata, which an installed (or unpacked) wheel carries.
"""

from importlib.metadata import entry_points

if __name__ == "__main__":
    (script,) = entry_points(group="console_scripts", name="reidkit")
    script.load()()

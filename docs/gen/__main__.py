"""``python -m docs.gen``: regenerate the reference pages; ``--check``: only say which are stale (exit 1)."""
import argparse
import sys

from . import stale, write

parser = argparse.ArgumentParser(prog="python -m docs.gen", description=__doc__)
parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated page is stale")
args = parser.parse_args()
if args.check:
    old = stale()
    for path in old:
        print(f"stale: docs/{path} (run `python -m docs.gen`)")
    sys.exit(1 if old else 0)
for path in write():
    print(f"wrote docs/{path}")

"""The ``nsa-ops`` command line: ``nsa-ops bench`` (see ``nsa_ops.bench``)."""
from __future__ import annotations

import argparse
import sys

from . import bench


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="nsa-ops", description="NSA selection attention tools")
    sub = parser.add_subparsers(dest="command", required=True)
    bench.add_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""`python -m bench [--quick] [--only SECTION ...] [--out PATH]`: run, print, write JSON."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from . import RESULTS_PATH, SECTIONS, BenchConfig, run
from .report import render


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--out", type=Path, default=RESULTS_PATH, help="the results JSON")
    args = parser.parse_args()
    # The fake profiles use a model the anthropic SDK warns about on every client: not news.
    warnings.filterwarnings(
        "ignore", message="The model .* is deprecated", category=DeprecationWarning
    )
    config = BenchConfig.smoke() if args.quick else BenchConfig.full()
    result = run(config, sections=args.only, out=args.out)
    print(render(result))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()

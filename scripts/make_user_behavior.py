"""Regenerate data/user_behavior.csv bit for bit from the simulated shop.

Usage::

    python scripts/make_user_behavior.py              # writes data/user_behavior.csv
    python scripts/make_user_behavior.py --out PATH   # writes elsewhere
    python scripts/make_user_behavior.py --check      # exit 1 if data/user_behavior.csv differs

The table comes from :func:`mtrec_lib.data.make_user_behavior` (simulate_shop with a
fixed seed); its SHA-256 is recorded in data/README.md and in
``mtrec_lib.data.shipped.USER_BEHAVIOR_SHA256``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtrec_lib.data.cache import atomic_write_bytes, sha256_bytes
from mtrec_lib.data.shipped import USER_BEHAVIOR_SHA256, user_behavior_bytes

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "data" / "user_behavior.csv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output CSV path")
    parser.add_argument("--check", action="store_true", help="compare with the file at --out instead of writing it")
    args = parser.parse_args(argv)
    data = user_behavior_bytes()
    digest = sha256_bytes(data)
    if args.check:
        current = args.out.read_bytes() if args.out.exists() else b""
        same = current == data
        print(f"{args.out}: {'up to date' if same else 'DIFFERS from the generator'} (sha256 {digest})")
        return 0 if same else 1
    atomic_write_bytes(args.out, data)
    note = "" if digest == USER_BEHAVIOR_SHA256 else "  (differs from the recorded SHA-256!)"
    print(f"wrote {args.out}: {len(data):,} bytes, sha256 {digest}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

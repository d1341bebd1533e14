"""Fetch the JavaScript the book serves itself (MathJax, Mermaid) into book/_static/vendor.

The site must render with no network (a classroom behind a firewall), so it may not load
MathJax or Mermaid from a CDN. These files are not committed: this script fetches pinned
releases from the npm registry, checks each tarball against its published sha512
integrity, and installs the files the site needs. ``make book`` runs it; it does nothing
when the right versions are already in place.

    python scripts/vendor_assets.py          # install (idempotent)
    python scripts/vendor_assets.py --check  # exit 1 if anything is missing
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "book" / "_static" / "vendor"

# name, version, npm "integrity" (sha512 of the tarball), files to keep (prefix in package/)
PACKAGES = {
    "mathjax": {
        "version": "3.2.2",
        "integrity": "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        # tex-chtml.js plus what it loads at run time: fonts, TeX extensions, the a11y
        # and menu components.
        "keep": [
            "es5/tex-chtml.js",
            "es5/output/chtml/",
            "es5/input/tex/extensions/",
            "es5/ui/",
            "es5/a11y/",
            "es5/adaptors/",
            "es5/sre/",
        ],
        "strip": "es5/",
        "skip": ["es5/sre/mathmaps/"],  # speech-rule data (13 MB) is only loaded on demand
    },
    "mermaid": {
        "version": "11.12.1",
        "integrity": "sha512-UlIZrRariB11TY1RtTgUWp65tphtBv4CSq7vyS2ZZ2TgoMjs2nloq+wFqxiwcxlhHUvs7DPGgMjs2aeQxz5h9g==",
        "keep": ["dist/mermaid.min.js"],
        "strip": "dist/",
        "skip": [],
    },
}


def _registry_url(name: str, version: str) -> str:
    return f"https://registry.npmjs.org/{name}/-/{name}-{version}.tgz"


def _fetch(name: str, version: str) -> bytes:
    """Return the package tarball, via ``npm pack`` when Node is installed, else over HTTPS."""
    npm = shutil.which("npm")
    if npm:
        import subprocess

        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [npm, "pack", f"{name}@{version}", "--silent"], cwd=tmp, check=True, stdout=subprocess.DEVNULL
            )
            return (Path(tmp) / f"{name}-{version}.tgz").read_bytes()
    with urllib.request.urlopen(_registry_url(name, version), timeout=60) as resp:
        return resp.read()


def _check_integrity(blob: bytes, integrity: str, name: str) -> None:
    algo, expected = integrity.split("-", 1)
    actual = base64.b64encode(hashlib.new(algo, blob).digest()).decode()
    if actual != expected:
        raise SystemExit(
            f"vendor_assets: {name} tarball failed its {algo} check (expected {expected[:16]}..., "
            f"got {actual[:16]}...). The download is corrupt or was altered; nothing was installed."
        )


def _installed_version(name: str) -> str | None:
    stamp = VENDOR / name / ".version"
    return stamp.read_text().strip() if stamp.exists() else None


def _selected(path: str, keep: str) -> bool:
    """A keep entry ending in "/" selects a folder, any other entry one file."""
    return path.startswith(keep) if keep.endswith("/") else path == keep


def install(name: str, spec: dict) -> bool:
    """Install one package; return True if anything was written."""
    if _installed_version(name) == spec["version"]:
        return False
    blob = _fetch(name, spec["version"])
    _check_integrity(blob, spec["integrity"], name)
    VENDOR.mkdir(parents=True, exist_ok=True)
    # Extract into a temporary sibling folder and swap it in, so an interrupted run never
    # leaves a half-written vendor folder that a later build would use.
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=VENDOR))
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            for member in tar.getmembers():
                rel = member.name.removeprefix("package/")
                if not member.isfile() or not any(_selected(rel, k) for k in spec["keep"]):
                    continue
                if any(rel.startswith(s) for s in spec["skip"]):
                    continue
                target = staging / rel.removeprefix(spec["strip"])
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        (staging / ".version").write_text(spec["version"] + "\n")
        staging.chmod(0o755)  # mkdtemp makes it private; the web server must read it
        final = VENDOR / name
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether assets are present")
    args = parser.parse_args(argv)
    if args.check:
        missing = [n for n, s in PACKAGES.items() if _installed_version(n) != s["version"]]
        if missing:
            print(f"vendor_assets: missing {missing}; run python scripts/vendor_assets.py")
            return 1
        return 0
    for name, spec in PACKAGES.items():
        changed = install(name, spec)
        print(f"vendor_assets: {name} {spec['version']} {'installed' if changed else 'up to date'}")
    (VENDOR / "manifest.json").write_text(json.dumps({n: s["version"] for n, s in PACKAGES.items()}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

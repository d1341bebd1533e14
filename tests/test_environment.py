"""pyproject.toml and environment.yml must name the same packages with the same bounds."""
from __future__ import annotations

import re
import tomllib

import yaml

from conftest import ROOT

_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$")


def _parse(req: str) -> tuple[str, str]:
    name, spec = _REQ.match(req).groups()
    name = re.sub(r"[-_.]+", "-", name).lower()  # PEP 503 normalisation
    return name, ",".join(sorted(s.strip() for s in spec.split(",") if s.strip()))


def pyproject_requirements() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in meta["optional-dependencies"].values():
        reqs += extra
    return dict(_parse(r) for r in reqs)


def conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    reqs = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            reqs += [r for r in dep["pip"] if not r.startswith("-")]
        else:
            reqs.append(dep)
    parsed = dict(_parse(r) for r in reqs)
    parsed.pop("python"), parsed.pop("pip")
    return parsed


def test_same_packages_in_both():
    py, conda = pyproject_requirements(), conda_requirements()
    assert sorted(set(py) - set(conda)) == [], "in pyproject.toml only"
    assert sorted(set(conda) - set(py)) == [], "in environment.yml only"


def test_same_version_bounds():
    py, conda = pyproject_requirements(), conda_requirements()
    differ = {name: (py[name], conda[name]) for name in py if name in conda and py[name] != conda[name]}
    assert differ == {}


def test_parser_notices_a_difference():
    # Guard against a comparison that cannot fail: a changed bound must show up.
    assert _parse("pandas>=2.2,<4") != _parse("pandas>=2.2,<3")
    assert _parse("Jupyter_Book >=1.0.4.post1,<2") == _parse("jupyter-book<2,>=1.0.4.post1")


def test_jupyter_book_is_pinned_below_2():
    assert pyproject_requirements()["jupyter-book"] == "<2,>=1.0.4.post1"

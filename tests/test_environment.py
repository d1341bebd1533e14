"""pyproject.toml and environment.yml must name the same packages with the same bounds."""

from __future__ import annotations

import re
import sys

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib

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
    return dict(_parse(r) for r in reqs if not _is_own_extra(r, meta["name"]))


def _is_own_extra(req: str, project: str) -> bool:
    # "mtrec_lib[scale]" inside the book/test extras pulls in another extra of this project;
    # its packages are listed (and compared) under that extra.
    return _parse(req.split("[")[0])[0] == _parse(project)[0]


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


def test_scale_extra_holds_pyarrow_and_book_and_test_include_it():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = meta["optional-dependencies"]
    assert [_parse(r)[0] for r in extras["scale"]] == ["pyarrow"]
    assert "pyarrow" not in {_parse(r)[0] for r in meta["dependencies"]}, "pyarrow is needed by mtrec_lib.scale only"
    for name in ("book", "test"):
        assert "mtrec_lib[scale]" in extras[name], name


def test_version_is_written_once():
    # mtrec_lib.__version__ is the one place; pyproject reads it, nothing else repeats it.
    import mtrec_lib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "mtrec_lib.__version__"}
    for path in ("environment.yml", "book/_config.yml", "README.md", "CONTRIBUTING.md", "DESIGN.md"):
        text = (ROOT / path).read_text()
        assert mtrec_lib.__version__ not in text, f"{path} repeats the version {mtrec_lib.__version__}"


def test_ruff_is_configured_and_pinned():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    ruff = pyproject["tool"]["ruff"]
    assert ruff["line-length"] == 120 and ruff["target-version"] == "py310"
    assert set(ruff["lint"]["select"]) >= {"E", "F", "W", "I", "UP", "B"}
    assert pyproject_requirements()["ruff"] == "<0.18,>=0.17"

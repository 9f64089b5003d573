"""environment.yml, binder/ and pyproject.toml agree; the repository has its expected shape."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pip_part(path: Path) -> list[str]:
    env = yaml.safe_load(path.read_text())
    pips = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pips) == 1, f"{path}: expected one pip section"
    return [r for r in pips[0] if not r.startswith("-")]


def test_environment_files_agree_with_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    want = {_name(d): d.replace(" ", "") for d in deps}
    for path in (ROOT / "environment.yml", ROOT / "binder" / "environment.yml"):
        got = {_name(r): r.replace(" ", "") for r in _pip_part(path)}
        assert got == want, f"{path.relative_to(ROOT)} differs from pyproject.toml"
        env = yaml.safe_load(path.read_text())
        assert "python=3.11" in env["dependencies"]


def test_binder_installs_the_package_and_starts():
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "set -e" in post and "pip install" in post and "-e ." in post
    start = (ROOT / "binder" / "start").read_text().strip().splitlines()
    assert start[-1] == 'exec "$@"'


def test_layout_and_readme_commands():
    for p in ("notebooks", "src/workbench", "environment.yml", "tests", "binder", "benchmarks",
              "README.md", "pyproject.toml", ".ci/run", "Makefile"):
        assert (ROOT / p).exists(), p
    head = (ROOT / "README.md").read_text().splitlines()[:12]
    assert any("make lab" in line for line in head) and any("make test" in line for line in head)
    assert "make test" in (ROOT / ".ci" / "run").read_text()

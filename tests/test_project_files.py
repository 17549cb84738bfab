"""Project files: one version everywhere, the licence in the build, a long description without relative links."""

import re
from pathlib import Path

import pytest
import yaml

import ase_nnxc
from ase_nnxc.cli import main

ROOT = Path(__file__).parents[1]
tomllib = pytest.importorskip("tomllib", reason="the standard library reads TOML from Python 3.11 on")


def test_nnxc_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"nnxc {ase_nnxc.__version__}"


def test_the_build_reads_the_version_from_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ase_nnxc.__version__"}


def test_citation_file_names_the_package_version():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["version"] == ase_nnxc.__version__
    assert citation["license"] == "MIT"
    # Every reference is identified by a DOI or, for a preprint, an arXiv number.
    for reference in citation["references"]:
        identifiers = [i["value"] for i in reference.get("identifiers", [])]
        assert reference.get("doi") or any(v.startswith("arXiv:") for v in identifiers), reference["title"]


def test_licence_is_mit_and_goes_into_the_wheel():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_changelog_has_the_current_version():
    assert re.search(rf"^## {re.escape(ase_nnxc.__version__)}\b", (ROOT / "CHANGELOG.md").read_text(), re.M)


def test_long_description_has_no_relative_links():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / project["readme"]).read_text()
    targets = re.findall(r"\]\(([^)]*)\)", text) + re.findall(r'(?:src|href)="([^"]*)"', text)
    relative = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert not relative, relative

"""Repository layout: train/ holds exactly the recipes of the shipped weights and their data; each study says what it asked."""

import json
from pathlib import Path

import pytest

from ase_nnxc.train.config import TrainConfig

ROOT = Path(__file__).parents[1]


def test_train_folder_holds_the_shipped_recipes_and_only_the_data_they_read():
    index = json.loads((ROOT / "src" / "ase_nnxc" / "models" / "index.json").read_text())
    recipes = {record["config"] for record in index["functionals"].values()}
    assert {str(p.relative_to(ROOT)) for p in (ROOT / "train").glob("*") if p.is_file()} == recipes
    read = {Path(TrainConfig.from_yaml(ROOT / recipe).train).resolve() for recipe in recipes}
    assert set((ROOT / "train" / "data").glob("*")) == read


@pytest.mark.parametrize("study", sorted(p for p in (ROOT / "studies").iterdir() if p.is_dir() and p.name not in ("scripts", "data")), ids=lambda p: p.name)
def test_each_study_states_its_question_command_and_answer(study):
    text = (study / "README.md").read_text()
    for part in ("**Question.**", "**Command.**", "**Answer.**"):
        assert part in text, (study.name, part)
    for config in study.glob("*.yaml"):
        # Candidate configs read data that is in the repository (or say how to write it).
        data = Path(TrainConfig.from_yaml(config).train)
        assert data.is_file() or f"python -m ase_nnxc.train.g2 studies/data/{data.name}" in config.read_text(), config
    listed = (ROOT / "studies" / "README.md").read_text()
    assert f"]({study.name}/)" in listed

"""Where a training config's paths point: data beside the file, output where the user runs."""

from pathlib import Path

from ase_nnxc.train.config import TrainConfig


def _config(folder: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True)
    path = folder / "recipe.yaml"
    path.write_text(f"train: data/set.yaml\nvalidation: data/valid.yaml\n{extra}")
    return path


def test_without_output_the_run_goes_to_runs_in_the_current_directory(tmp_path, monkeypatch):
    config = _config(tmp_path / "source" / "train")
    monkeypatch.chdir(tmp_path)
    loaded = TrainConfig.from_yaml(config)
    assert Path(loaded.output).resolve() == tmp_path / "runs" / "recipe"
    # The data paths stay relative to the file, wherever it is read from.
    assert Path(loaded.train).resolve() == tmp_path / "source" / "train" / "data" / "set.yaml"
    assert Path(loaded.validation).resolve() == tmp_path / "source" / "train" / "data" / "valid.yaml"


def test_an_output_written_in_the_file_is_relative_to_the_file(tmp_path, monkeypatch):
    config = _config(tmp_path / "source", "output: ../results/here\n")
    monkeypatch.chdir(tmp_path / "source")
    assert Path(TrainConfig.from_yaml(config).output).resolve() == tmp_path / "results" / "here"

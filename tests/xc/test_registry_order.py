"""Name lookup order: registered names, then libxc names, then checkpoint files; a file never hides a name."""

import pytest

from ase_nnxc.train.checkpoint import CheckpointError, build_functional, save_checkpoint
from ase_nnxc.xc import get_functional
from ase_nnxc.xc.libxc import LibXCFunctional
from ase_nnxc.xc.neural import HybridXC
from ase_nnxc.xc.torch_functionals import TorchPBE


@pytest.fixture
def checkpoint_files(tmp_path, monkeypatch):
    """Valid checkpoints named b3lyp, torch-pbe and model.pt in the working directory."""
    monkeypatch.chdir(tmp_path)
    functional = build_functional("nn-lda", {"hidden": [2]}, "lda,vwn")
    meta = {"model": "nn-lda", "options": {"hidden": [2]}, "base": "lda,vwn", "basis": "sto-3g"}
    for name in ("b3lyp", "torch-pbe", "model.pt", "mymodel"):
        save_checkpoint(tmp_path / name, functional, meta)
    return tmp_path


def test_a_file_named_like_a_libxc_functional_does_not_hide_it(checkpoint_files):
    functional = get_functional("b3lyp")
    assert isinstance(functional, LibXCFunctional) and functional.exchange_terms()  # B3LYP, 20% exact exchange
    for spelling in ("./b3lyp", "path:b3lyp", str(checkpoint_files / "b3lyp")):
        assert isinstance(get_functional(spelling), HybridXC), spelling


def test_a_file_named_like_a_registered_functional_does_not_hide_it(checkpoint_files):
    assert isinstance(get_functional("torch-pbe"), TorchPBE)
    assert isinstance(get_functional("./torch-pbe"), HybridXC)


def test_bare_file_names_are_checkpoints_when_no_name_matches(checkpoint_files):
    assert isinstance(get_functional("model.pt"), HybridXC)
    assert isinstance(get_functional("mymodel"), HybridXC)  # neither registered nor libxc: the file
    with pytest.raises(CheckpointError, match="missing.pt: no such checkpoint file"):
        get_functional("missing.pt")
    with pytest.raises(ValueError, match="Unknown exchange-correlation functional 'pbee': not a registered name"):
        get_functional("pbee")
    with pytest.raises(CheckpointError, match="pbe: no such checkpoint file"):
        get_functional("path:pbe")  # an explicit path is never a name

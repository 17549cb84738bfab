"""Evaluation: entries assembled from once-converged systems (against PySCF), and the results
cache that lets an interrupted run resume without converging anything twice."""

import pytest
from pyscf import dft

from ase_nnxc.cache import ResultCache
from ase_nnxc.scf import SCFConfig
from ase_nnxc.train.dataset import Entry, SystemSpec
from ase_nnxc.train.evaluate import evaluate, mean_absolute_error
from ase_nnxc.train.predict import EntryFailed, Predictor
from ase_nnxc.units import HARTREE_TO_KCAL_PER_MOL
from ase_nnxc.xc import get_functional

BASIS = "sto-3g"


@pytest.fixture
def entries():
    # Li, H and LiH appear in several entries; every open shell has a unique UKS ground state.
    lih, li, h = (
        SystemSpec("Li 0 0 0; H 0 0 3.015", BASIS),
        SystemSpec("Li 0 0 0", BASIS, 1),
        SystemSpec("H 0 0 0", BASIS, 1),
    )
    return [
        Entry("ae", 0.0924, (lih, li, h), name="AE LiH"),
        Entry(
            "ae", 0.1744, (SystemSpec("H 0 0 0; H 0 0 1.4", BASIS), SystemSpec("H 0 0 0", BASIS, 1, 0, 2)), name="AE H2"
        ),
        Entry("ie", 0.1981, (li, SystemSpec("Li 0 0 0", BASIS, 0, 1)), name="IE Li"),
    ]


def pyscf_energy(spec):
    mol = spec.to_system().to_mole()
    mf = (dft.RKS if mol.spin == 0 else dft.UKS)(mol)
    mf.xc, mf.grids.level, mf.conv_tol = "pbe", 1, 1e-11
    return mf.kernel()


def test_entries_are_combinations_of_pyscf_energies_and_a_cache_replaces_every_scf(entries, tmp_path):
    predictor = Predictor(get_functional("pbe"), SCFConfig(grid_level=1, conv_tol=1e-11, require_aufbau=False))
    cache = ResultCache(tmp_path / "pbe.jsonl")
    results = evaluate(predictor, entries, cache=cache)
    for entry, result in zip(entries, results):
        reference = sum(c * pyscf_energy(s) for c, s in zip(entry.coefficients(), entry.systems))
        assert result.prediction == pytest.approx(reference, abs=1e-7)
        assert result.error_kcal == pytest.approx((reference - entry.true_val) * HARTREE_TO_KCAL_PER_MOL, abs=1e-4)
    assert len(cache.load()) == 5  # LiH, Li, H, H2, Li+: each once

    class NoSCF(Predictor):
        def solve(self, spec):
            raise AssertionError(f"converged {spec.moldesc} again")

    again = evaluate(NoSCF(predictor.functional, predictor.config), entries, cache=cache)
    assert again == results
    assert mean_absolute_error(again) == mean_absolute_error(results)
    # Other SCF settings are another cache key: nothing is taken from the first run.
    with pytest.raises(AssertionError, match="converged"):
        evaluate(NoSCF(predictor.functional, SCFConfig(grid_level=2)), entries, cache=cache)


def test_a_failed_system_fails_its_entries_and_is_cached_as_failed(entries, tmp_path):
    class FailingLithium(Predictor):
        def solve(self, spec):
            if spec.key == ("Li 0 0 0", BASIS, 1, 0):
                raise EntryFailed("SCF not converged after 100 cycles")
            return super().solve(spec)

    predictor = FailingLithium(get_functional("pbe"), SCFConfig(grid_level=1))
    cache = ResultCache(tmp_path / "lda.jsonl")
    results = evaluate(predictor, entries, cache=cache)
    assert [r.failed for r in results] == [
        "SCF not converged after 100 cycles",
        "",
        "SCF not converged after 100 cycles",
    ]
    assert len(cache.load()) == 5
    again = evaluate(predictor, entries, cache=cache)
    assert [r.failed for r in again] == [r.failed for r in results] and again[1] == results[1]


def test_result_cache_skips_a_line_cut_short_and_starts_the_next_on_its_own(tmp_path):
    path = tmp_path / "cache.jsonl"
    cache = ResultCache(path)
    cache.add("a", ["ok", 1.5])
    with path.open("a") as fh:
        fh.write('{"key": "b", "val')  # a kill in the middle of a write
    cache.add("c", ["failed", "no SCF"])
    cache.add("a", ["ok", 2.5])  # the later line wins
    assert cache.load() == {"a": ["ok", 2.5], "c": ["failed", "no SCF"]}

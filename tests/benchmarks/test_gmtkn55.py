"""The GMTKN55 and DietGMTKN55 readers and WTMAD-2, against the repository's own PBEh-3c results."""

import ast
import csv
import math
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from ase.build import molecule

from ase_nnxc.benchmarks.diet import diet_file, diet_reaction_set, read_diet
from ase_nnxc.benchmarks.gmtkn55 import CATEGORIES, GMTKN55, SUBSETS, expand_braces, parse_res_line
from ase_nnxc.benchmarks.reactions import BenchmarkDataError, Reaction, ReactionSet, Species
from ase_nnxc.benchmarks.statistics import subset_weights, summary, weighted_mad
from ase_nnxc.units import ANGSTROM_TO_BOHR

DATA = Path(__file__).parent / "data"
ROOT = DATA / "GMTKN55"


def pbeh3c_rows():
    with open(ROOT / "PBEh-3c_reactions.csv") as f:
        return list(csv.DictReader(f))


def test_reaction_list_matches_the_repository_csv():
    data = GMTKN55(ROOT)
    rows = pbeh3c_rows()
    by_subset = defaultdict(list)
    for row in rows:
        by_subset[row["Subset"]].append(row)
    assert len(rows) == 1505 and sorted(by_subset) == sorted(SUBSETS) and len(SUBSETS) == 55
    revised = set()
    for subset in SUBSETS:
        mine = data.reactions(subset)
        assert len(mine) == len(by_subset[subset]), subset
        for reaction, row in zip(mine, by_subset[subset]):
            assert [s.split("/", 1)[1] for s in reaction.species] == ast.literal_eval(row["Reaction"])
            assert list(reaction.coefficients) == ast.literal_eval(row["Stochiometry"])
            if abs(reaction.reference - float(row["ReferenceValue"])) > 1e-9:
                revised.add(subset)
    # The .res files of UPU23 carry the 2024 references; the PBEh-3c run used the earlier ones.
    assert revised == {"UPU23"}
    assert sum(len(data.reactions(s)) for s in SUBSETS) == 1505


def test_wtmad2_of_the_csv_values_matches_the_repository_figures():
    reactions, values = [], {}
    for i, row in enumerate(pbeh3c_rows()):
        reaction = Reaction(row["Subset"], i, (("x", 1),), float(row["ReferenceValue"]))
        reactions.append(reaction)
        values[reaction.name] = float(row["MethodValue"]) - reaction.reference
    categories = {s: c for c, members in CATEGORIES.items() for s in members}
    reaction_set = ReactionSet("PBEh-3c", reactions, {"x": Species("x", [1], [[0, 0, 0]], spin=1)},
                               categories=categories, weights=subset_weights(reactions))  # fmt: skip
    figures = summary(reaction_set, values)
    with open(ROOT / "PBEh-3c_wtmad2.csv") as f:
        official = {row[""]: float(row["WTMAD-2"]) for row in csv.DictReader(f)}
    assert figures["total"].value == pytest.approx(official["total"], abs=1e-5)  # 11.13
    assert round(figures["total"].value, 2) == 11.13
    for category in CATEGORIES:
        assert figures[category].value == pytest.approx(official[category], abs=1e-5), category
    nci = [r for r in reactions if categories[r.subset] in ("intermolecular", "intramolecular")]
    assert weighted_mad(nci, values, reaction_set.weights).value == pytest.approx(official["all_nci"], abs=1e-5)
    assert figures["total"].count == figures["total"].total == 1505


def test_weights_are_the_grand_mean_over_each_subsets_mean_reference():
    data = GMTKN55(ROOT)
    means = {s: np.mean([abs(r.reference) for r in data.reactions(s)]) for s in SUBSETS}
    grand = np.mean(list(means.values()))
    assert data.grand_mean_absolute_reference == pytest.approx(grand)
    for subset in ("W4-11", "RG18", "BH76RC"):
        assert data.weights[subset] == pytest.approx(grand / means[subset])
    # Gould's weights (56.84 / |dE|_i, to 0.01) agree with these references wherever they were not revised since.
    diet = read_diet(diet_file(DATA / "DietGMTKN55", 150))
    agree = {s for s, w in diet.weights.items() if abs(w - 56.84 / means[s]) <= 0.0051}
    assert set(diet.weights) - agree <= {"UPU23", "NBPRC"} and len(agree) >= 40


@pytest.mark.parametrize(
    "word, expected",
    [
        ("{h2,h}/$f", ["h2/$f", "h/$f"]),
        ("h{,2+_1.0}/$f", ["h/$f", "h2+_1.0/$f"]),
        ("A{M,D}2/$f", ["AM2/$f", "AD2/$f"]),
        ("{ed,ts}1/$f", ["ed1/$f", "ts1/$f"]),
        ("al2h6/$f", ["al2h6/$f"]),
        ("a{b,c{d,e}}", ["ab", "acd", "ace"]),
    ],
)
def test_brace_expansion_follows_bash(word, expected):
    assert expand_braces(word) == expected


def test_res_lines_of_every_form():
    assert parse_res_line("$tmer {alh3,al,h}/$f  x -1 1 3 $w 213.169") == (["alh3", "al", "h"], [-1, 1, 3], 213.169)
    tab = "tmer2++\th/$f\tn2o/$f\toh/$f\tn2/$f\tx\t-1\t-1\t1\t1\t$w\t-64.91"
    assert parse_res_line(tab) == (["h", "n2o", "oh", "n2"], [-1, -1, 1, 1], -64.91)
    assert parse_res_line("$tmer {ed,ts}1/$f  x -1 1 $w 25.65  # a comment") == (["ed1", "ts1"], [-1, 1], 25.65)
    assert parse_res_line("$tmer A{M,D}2/$f   x 2 -1 $w 1.34 0 1.0") == (["AM2", "AD2"], [2, -1], 1.34)
    for line in ("  tmer=tmer2++", "f=$1", "# $tmer a/$f x 1 $w 2", ""):
        assert parse_res_line(line) is None
    for bad in ("$tmer a/$f b/$f x 1 $w 2", "$tmer a/$f x one $w 2", "$tmer a/$f x 1 $w", "$tmer {a,b/$f x 1 1 $w 2"):
        with pytest.raises(ValueError):
            parse_res_line(bad)


def test_species_geometry_charge_and_unpaired_electrons():
    data = GMTKN55(ROOT)
    cation = data.species("SIE4x4/h2+_1.0")
    assert (cation.numbers, cation.charge, cation.spin) == ((1, 1), 1, 1)
    lines = (ROOT / "SIE4x4/h2+_1.0/struc.xyz").read_text().splitlines()[2:4]
    expected = np.array([[float(v) for v in line.split()[1:]] for line in lines]) * ANGSTROM_TO_BOHR
    assert np.allclose(cation.positions, expected, atol=1e-12)
    triplet = data.species("W4-11/ch2-trip")
    assert (triplet.formula, triplet.charge, triplet.spin) == ("CH2", 0, 2)
    assert data.species("W4-11/h2o").spin == 0  # no .UHF file
    # the same atom in two subsets is one calculation
    assert data.species("SIE4x4/h").key == data.species("W4-11/h").key


def test_diet_subsets_have_the_published_sizes_and_read_the_right_reactions():
    data = GMTKN55(ROOT)
    # Species counts quoted with DietGMTKN55 (data README): 82, 130, 238, 336.
    for size, species in ((30, 82), (50, 130), (100, 238), (150, 336)):
        selection = read_diet(diet_file(DATA / "DietGMTKN55", size))
        reactions = [data.reactions(s)[i - 1] for s, ids in selection.indices.items() for i in ids]
        assert len(reactions) == selection.size == size
        assert len({n for r in reactions for n in r.species}) == species
    selection = read_diet(diet_file(DATA / "DietGMTKN55", 30))
    assert selection.indices["W4-11"] == (30, 57, 132) and selection.weights["W4-11"] == 0.19
    assert selection.mean_error == 0.362


def test_diet_estimate_is_the_weighted_mean_over_the_chosen_reactions():
    reactions = [
        Reaction("A", 1, (("x", 1),), 2.0),
        Reaction("A", 2, (("x", 1),), 4.0),
        Reaction("B", 1, (("x", 1),), 1.0),
    ]
    species = {"x": Species("x", [1], [[0, 0, 0]], spin=1)}
    reaction_set = ReactionSet("Diet-3", reactions, species, {"A": "c1", "B": "c2"}, {"A": 2.0, "B": 10.0})
    errors = {"A #1": 0.5, "A #2": -1.5, "B #1": 0.25}
    figures = summary(reaction_set, errors)
    assert figures["total"].value == pytest.approx((2 * 0.5 + 2 * 1.5 + 10 * 0.25) / 3)
    assert figures["c1"].value == pytest.approx((2 * 0.5 + 2 * 1.5) / 2)
    errors["A #2"] = None  # a failed reaction is left out and counted, not hidden
    figures = summary(reaction_set, errors)
    assert (figures["total"].count, figures["total"].total) == (2, 3)
    assert figures["total"].value == pytest.approx((2 * 0.5 + 10 * 0.25) / 2)
    assert math.isnan(weighted_mad([], {}).value)


def test_diet_reaction_set_reads_geometries_and_uses_goulds_weights(tmp_path):
    data = GMTKN55(ROOT)
    selection = read_diet(diet_file(DATA / "DietGMTKN55", 30))
    with pytest.raises(BenchmarkDataError, match=r"struc.xyz: no such file"):
        diet_reaction_set(data, selection)  # the copy holds the species of three subsets only
    small = type(selection)(3, {"W4-11": 0.19}, {"W4-11": (30, 57, 132)}, None, "test")
    reaction_set = diet_reaction_set(data, small)
    assert reaction_set.weights == {"W4-11": 0.19} and len(reaction_set.reactions) == 3
    assert "estimate of the full GMTKN55 WTMAD-2" in reaction_set.notes[0]


# Bad input (issue 25, point 6): one line that names the file.


def _copy(tmp_path):
    root = tmp_path / "GMTKN55"
    shutil.copytree(ROOT, root)
    return root


def _one_line_naming(err, path):
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def test_missing_subset_directory(tmp_path):
    root = _copy(tmp_path)
    shutil.rmtree(root / "S22")
    with pytest.raises(BenchmarkDataError) as err:
        GMTKN55(root).reactions("S22")
    assert "no such subset directory" in _one_line_naming(err, root / "S22")
    with pytest.raises(BenchmarkDataError) as err:
        GMTKN55(tmp_path / "nowhere")
    _one_line_naming(err, tmp_path / "nowhere")


def test_malformed_res_line(tmp_path):
    root = _copy(tmp_path)
    res = root / "W4-11" / ".res"
    lines = res.read_text().splitlines()
    number = next(i for i, line in enumerate(lines) if "{ch4,c,h}" in line)
    lines[number] = lines[number].replace("x -1 1 4", "x -1 1")
    res.write_text("\n".join(lines) + "\n")
    with pytest.raises(BenchmarkDataError) as err:
        GMTKN55(root).reactions("W4-11")
    message = _one_line_naming(err, res)
    assert f"line {number + 1}" in message and "3 species but 2 coefficients" in message


def test_species_without_structure(tmp_path):
    root = _copy(tmp_path)
    (root / "W4-11" / "h2o" / "struc.xyz").unlink()
    data = GMTKN55(root)
    with pytest.raises(BenchmarkDataError) as err:
        data.reaction_set(["W4-11"])
    _one_line_naming(err, root / "W4-11" / "h2o" / "struc.xyz")


def test_element_the_basis_lacks():
    from ase_nnxc.benchmarks.runner import Method, Runner

    reaction_set = GMTKN55(ROOT).reaction_set(["RG18"])
    runner = Runner(Method("pbe", basis="6-31g"), "unused")
    with pytest.raises(BenchmarkDataError) as err:
        runner.plan(reaction_set)  # before any SCF
    message = _one_line_naming(err, ROOT / "RG18")
    assert "6-31g" in message and "element Kr" in message and "struc.xyz" in message


def test_reactions_with_species_of_the_shipped_training_pool():
    from ase_nnxc.benchmarks.overlap import overlap_section, shipped_training_pool, training_overlap

    data = GMTKN55(ROOT)
    reaction_set = data.reaction_set(selection={"W4-11": (1,), "SIE4x4": (5,)})
    pool = shipped_training_pool()
    overlap = training_overlap(reaction_set, pool)
    assert list(overlap) == ["W4-11 #1"]  # H2 -> 2 H; SIE4x4 #5 has only He species, none trained on
    matches = {m.species: m for m in overlap["W4-11 #1"]}
    (a, b) = (np.array([float(v) for v in line.split()[1:]])
              for line in (ROOT / "W4-11/h2/struc.xyz").read_text().splitlines()[2:4])  # fmt: skip
    bond = np.linalg.norm(a - b)  # Angstrom
    # The pool has H2 at ASE's G2 geometry (an AE entry) and at 0.5, 0.75, 1.0, 1.25, 1.5 (the H2 entries).
    g2_bond = molecule("H2").get_distance(0, 1)
    expected = min(abs(bond - r) for r in (g2_bond, 0.5, 0.75, 1.0, 1.25, 1.5))
    assert matches["W4-11/h2"].geometry_deviation == pytest.approx(expected, abs=1e-6) and expected < 0.01
    assert matches["W4-11/h2"].pool == ("H2 of AE H2" if expected == abs(bond - g2_bond) else "H2 of AE H2 0.75 A")
    assert matches["W4-11/h"].geometry_deviation == 0.0 and matches["W4-11/h"].pool.startswith("H of ")
    assert "1 of 2 reactions contain a species" in overlap_section(reaction_set, overlap, "nnxc")
    # 63 molecules, their atoms, the IP atoms and cations and five H2 geometries
    assert {s.formula for s in pool.values()} >= {"CH4", "H2O", "C2H6", "Li", "Cl", "H2"}

"""GMTKN55 reader check on the PBEh-3c results that ship with GMTKN55, and the Diet estimates of them.

Reads the reactions from the ``.res`` files, takes PBEh-3c's reaction energies from the
repository's ``PBEh-3c_reactions.csv`` (matched reaction by reaction, species and coefficients
checked) and prints: the WTMAD-2 and its categories from the CSV's own references (the
repository's ``PBEh-3c_wtmad2.csv`` says 11.13) and from the references of the ``.res`` files
(UPU23's were revised after the PBEh-3c run), and the Diet-30/50/100/150 estimates with their
reaction and species counts. No SCF is run.

    python benchmarks/gmtkn55_pbeh3c.py --data GMTKN55 --diet DietGMTKN55
"""

from __future__ import annotations

import argparse
import ast
import csv
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from ase_nnxc.benchmarks.diet import SIZES, diet_file, read_diet
from ase_nnxc.benchmarks.gmtkn55 import CATEGORY_OF, GMTKN55, SUBSETS
from ase_nnxc.benchmarks.reactions import ReactionSet
from ase_nnxc.benchmarks.statistics import subset_weights, summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="GMTKN55 directory (default: $ASE_NNXC_GMTKN55)")
    parser.add_argument("--diet", default=None, help="DietGMTKN55 directory (default: $ASE_NNXC_DIET)")
    args = parser.parse_args(argv)
    data = GMTKN55(args.data)
    with open(Path(data.root) / "PBEh-3c_reactions.csv") as f:
        rows = defaultdict(list)
        for row in csv.DictReader(f):
            rows[row["Subset"]].append(row)
    values, csv_references = {}, {}
    for subset in SUBSETS:
        for reaction, row in zip(data.reactions(subset), rows[subset], strict=True):
            assert [s.split("/", 1)[1] for s in reaction.species] == ast.literal_eval(row["Reaction"]), reaction.name
            assert list(reaction.coefficients) == ast.literal_eval(row["Stochiometry"]), reaction.name
            values[reaction.name] = float(row["MethodValue"])
            csv_references[reaction.name] = float(row["ReferenceValue"])
    reactions = [r for s in SUBSETS for r in data.reactions(s)]
    print(f"{len(reactions)} reactions in {len(SUBSETS)} subsets; species and coefficients equal the CSV's")

    full = data.reaction_set()  # reads every geometry too

    def figures(reaction_list, weights, references):
        reaction_set = ReactionSet(
            "x", reaction_list, full.species, {r.subset: CATEGORY_OF[r.subset] for r in reaction_list}, weights
        )
        errors = {r.name: values[r.name] - references[r.name] for r in reaction_list}
        return {k: round(v.value, 3) for k, v in summary(reaction_set, errors).items()}

    own = [replace(r, reference=csv_references[r.name]) for r in reactions]
    print("WTMAD-2, the CSV's references:", figures(own, subset_weights(own), csv_references))
    res_references = {r.name: r.reference for r in reactions}
    print(
        f"WTMAD-2, the .res references (<|dE|> = {data.grand_mean_absolute_reference:.2f}):",
        figures(reactions, data.weights, res_references),
    )
    for size in SIZES:
        selection = read_diet(diet_file(args.diet, size))
        chosen = [data.reactions(s)[i - 1] for s, ids in selection.indices.items() for i in ids]
        species = {n for r in chosen for n in r.species}
        estimate = figures(chosen, selection.weights, res_references)
        print(f"Diet-{size}: {len(chosen)} reactions, {len(species)} species; estimate {estimate}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

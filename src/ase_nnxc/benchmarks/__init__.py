"""Benchmarks of functionals on reaction energies: data sets, one runner, one report writer.

A benchmark is a :class:`~ase_nnxc.benchmarks.reactions.ReactionSet`: species (geometry,
charge, spin) and reactions, each a list of ``(species, coefficient)`` pairs with a reference
energy in kcal/mol, whatever the data set.

* :mod:`.gmtkn55` reads GMTKN55 in its official layout (a clone of grimme-lab/GMTKN55) and
  :mod:`.diet` the DietGMTKN55 subsets; :mod:`.statistics` computes MADs and WTMAD-2. These
  modules know nothing of Kohn-Sham.
* :mod:`.g2` is the G2 set (atomisation energies, atomic ionisation energies, the H2 curve).
* :mod:`.runner` maps species to energies through a per-method disk cache (SCF with
  fallbacks, optional D4 dispersion) and :mod:`.report` writes Markdown, CSV and plots.

``nnxc benchmark gmtkn55|g2`` (:mod:`ase_nnxc.cli_commands.benchmark`) puts them together.
"""

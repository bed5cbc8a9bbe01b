"""The methods of :class:`~hyperspy_localcryst.signals.atom_positions.AtomPositions`,
one module per concern (the class inherits them; use the class).

- :mod:`.editing`: columns added, rows selected, tables joined;
- :mod:`.sublattices`: sublattice labels;
- :mod:`.frames`: the frames of a table from an image stack;
- :mod:`.tracking`: links between frames, drift, trajectories;
- :mod:`.markers`: the atoms as HyperSpy markers and arrows;
- :mod:`.spectra`: the atoms on a spectrum image (EELS);
- :mod:`.lattice`: lattice parameters and defects.
"""

#: The metadata node of the per-atom table.
_KEY = "AtomPositions"

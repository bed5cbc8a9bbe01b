"""The methods of :class:`~hyperspy_localcryst.signals.atom_neighbourhoods.
AtomNeighbourhoods`, one module per concern (the class inherits them; use the class).

- :mod:`.learning`: decomposition and clustering (HyperSpy's, with the
  physics' defaults);
- :mod:`.site_classes`: how many kinds of neighbourhood, and why;
- :mod:`.phases`: symmetry, phases, variants and their walls;
- :mod:`.dendrogram`: Ward linkage and the dendrogram;
- :mod:`.maps`: maps, markers, FFTs and histograms of per-centre values;
- :mod:`.modes`: the principal modes as displacement patterns;
- :mod:`.spectra`: spectra of a spectrum image by site class;
- :mod:`.learning_plots` and :mod:`.cluster_plots`: HyperSpy's plots of the
  learning results, drawn at the atoms.
"""

#: The metadata node of the neighbourhood signal.
_KEY = "AtomNeighbourhoods"

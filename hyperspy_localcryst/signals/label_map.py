"""Maps of class labels: a Signal2D that HyperSpy draws in the class colours.

A cluster, sublattice, site-class or phase map holds one integer label per
pixel (the label of the nearest atom; NaN away from the atoms). Drawn as a
plain ``Signal2D`` those integers would be a continuous colour scale whose
colours are unlike the markers'. ``LabelMap`` (``signal_type =
"atom_label_map"``) keeps everything a Signal2D does and only changes the
defaults of :meth:`LabelMap.plot`: each label ``k`` in
``class_colours(n)[k]``, the colour its atoms' markers, the dendrogram and the
report give it, and -1 (no class) in grey. The label names and the atom count
per label are in ``metadata.Map`` (:func:`hyperspy_localcryst.plotting.
set_categorical`); :func:`hyperspy_localcryst.plotting.plot_map` draws the
same map with a legend of names and counts.
"""

import numpy as np
from hyperspy.signals import LazySignal2D, Signal2D

from ._plotting import categorical_colormap


class LabelMap(Signal2D):
    """A map of integer class labels, drawn in the class colours.

    Returned by :meth:`AtomNeighbourhoods.get_cluster_map` and by
    ``get_map(..., categorical=True)``; ``metadata.Map`` holds the label
    ``names``, the atom ``counts`` per label and the number ``unassigned``.

    Examples
    --------
    >>> from hyperspy_localcryst.data import synthetic_lattice
    >>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
    >>> nb = atoms.get_neighbourhoods(n_neighbours=4)
    >>> nb.cluster_analysis(n_clusters=2)
    >>> m = nb.get_cluster_map()
    >>> type(m).__name__, m.metadata.Signal.signal_type
    ('LabelMap', 'atom_label_map')
    """

    _signal_type = "atom_label_map"
    _signal_dimension = 2
    _lazy = False

    def n_labels(self):
        """Number of class labels ``0 .. n - 1`` the map's colours cover.

        The names recorded in ``metadata.Map`` (every label, even one that
        no pixel shows), else one more than the largest label.

        Returns
        -------
        int
            At least 1.

        Examples
        --------
        >>> import hyperspy.api as hs
        >>> s = hs.signals.Signal2D(np.array([[0.0, 2.0], [1.0, np.nan]]))
        >>> s.set_signal_type("atom_label_map")
        >>> s.n_labels()
        3
        """
        names = self.metadata.get_item("Map.names", None)
        if names:
            return max(len(names), 1)
        data = np.asarray(self.data)
        finite = data[np.isfinite(data)]
        return max(int(finite.max()) + 1, 1) if finite.size else 1

    def plot(self, *args, **kwargs):
        """HyperSpy's plot, in the class colours by default.

        Label ``k`` is drawn in ``class_colours(n)[k]`` (the markers' colour),
        -1 in grey, NaN (away from the atoms) transparent: ``cmap`` is
        :func:`~hyperspy_localcryst.plotting.categorical_colormap` and the
        colour range ``vmin = -1.5``, ``vmax = n - 0.5``, so every integer
        falls in the middle of its own colour. Any of these given as keywords
        wins; everything else is :meth:`hyperspy.api.signals.Signal2D.plot`.

        Parameters
        ----------
        *args, **kwargs
            As :meth:`hyperspy.api.signals.Signal2D.plot`.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import hyperspy.api as hs
        >>> s = hs.signals.Signal2D(np.array([[0.0, 1.0], [1.0, -1.0]]))
        >>> s.set_signal_type("atom_label_map")
        >>> s.plot()
        """
        n = self.n_labels()
        cmap, _ = categorical_colormap(n)
        kwargs.setdefault("cmap", cmap)
        kwargs.setdefault("vmin", -1.5)
        kwargs.setdefault("vmax", n - 0.5)
        return super().plot(*args, **kwargs)


class LazyLabelMap(LazySignal2D, LabelMap):
    """Lazy twin of :class:`LabelMap` (a label map held as a dask array).

    Examples
    --------
    >>> import hyperspy.api as hs
    >>> s = hs.signals.Signal2D(np.zeros((4, 4))).as_lazy()
    >>> s.set_signal_type("atom_label_map")
    >>> type(s).__name__
    'LazyLabelMap'
    """

    _lazy = True

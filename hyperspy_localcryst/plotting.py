"""Drawing the package's maps and classes the way its reports do.

The public home of the plotting helpers: one class palette shared by the
markers, the maps, the dendrogram and the report (:func:`class_colours`),
categorical maps with a legend instead of a continuous colour bar
(:func:`plot_map`, :func:`categorical_colormap`, :func:`set_categorical`) and
a calibrated scale bar (:func:`add_scale_bar`).

Examples
--------
>>> from hyperspy_localcryst.data import synthetic_lattice
>>> from hyperspy_localcryst.plotting import plot_map
>>> atoms = synthetic_lattice(shape=(128, 128), seed=0).find_atoms()
>>> nb = atoms.get_neighbourhoods(n_neighbours=4)
>>> nb.cluster_analysis(n_clusters=2)
>>> im = plot_map(nb.get_cluster_map())  # class colours and a legend
"""

from .signals._plotting import (
    add_scale_bar,
    categorical_colormap,
    class_colours,
    label_colours,
    plot_map,
    set_categorical,
)

__all__ = [
    "add_scale_bar",
    "categorical_colormap",
    "class_colours",
    "label_colours",
    "plot_map",
    "set_categorical",
]

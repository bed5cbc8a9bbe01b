"""Shared plumbing of the gallery scripts: arguments, data files, figures.

Every example runs as ``python examples/<name>.py [--data-dir DIR] [--out DIR]``
and writes PNG figures to ``examples/output/<name>/`` by default.
"""

import argparse
import io
import sys
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED_DATA = REPO.parent / "shared" / "data" / "real"
TEST_DATA = REPO / "tests" / "data"
DPI = 110
MAX_PNG_BYTES = 400_000


def default_data_dir():
    """``../shared/data/real`` next to the repository if present, else tests/data."""
    return SHARED_DATA if SHARED_DATA.is_dir() else TEST_DATA


def parse_args(name, description, n_clusters=False):
    """Command line of an example: ``--data-dir``, ``--out`` (``--n-clusters``)."""
    p = argparse.ArgumentParser(prog=f"{name}.py", description=description)
    p.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help="folder with the data files (default: %(default)s)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=HERE / "output" / name,
        help="folder for the PNG figures (default: %(default)s)",
    )
    if n_clusters:
        p.add_argument(
            "--n-clusters",
            type=int,
            default=None,
            help="number of k-means clusters (default: chosen in the script)",
        )
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def find_file(data_dir, *names):
    """First of ``names`` that exists in ``data_dir`` (or in tests/data).

    When none exists, say where to get it and exit with status 0, so that a
    gallery run without the optional data is not an error.
    """
    for folder in (Path(data_dir), TEST_DATA):
        for n in names:
            if (folder / n).is_file():
                return folder / n
    print(
        f"{names[0]} not found in {data_dir}: get it as described in "
        "shared/data/real/README.md (see examples/README.md, 'Data'); skipping."
    )
    sys.exit(0)


def quiet():
    """Silence HyperSpy's and the fit's warnings in the example output."""
    warnings.simplefilter("ignore")
    import logging

    import hyperspy.api as hs

    logging.getLogger("hyperspy").setLevel(logging.ERROR)
    hs.preferences.General.show_progressbar = False


class Timer:
    """Prints the time of each step, and the total at the end."""

    def __init__(self):
        self.t0 = self.t = time.perf_counter()

    def __call__(self, what):
        now = time.perf_counter()
        print(f"  [{now - self.t:6.2f} s] {what}")
        self.t = now

    def total(self):
        return time.perf_counter() - self.t0


def extent(grid):
    """imshow extent (left, right, bottom, top) of an image grid, calibrated."""
    gx, gy = grid["x"], grid["y"]
    x0 = gx["offset"] - 0.5 * gx["scale"]
    y0 = gy["offset"] - 0.5 * gy["scale"]
    return (
        x0,
        x0 + gx["size"] * gx["scale"],
        y0 + gy["size"] * gy["scale"],
        y0,
    )


def show_image(ax, data, grid, title=None, **kwargs):
    """The image in grey on calibrated axes, contrast from percentiles."""
    data = np.asarray(data, float)
    lo, hi = np.nanpercentile(data, (0.5, 99.5))
    kwargs.setdefault("cmap", "gray")
    im = ax.imshow(data, extent=extent(grid), vmin=lo, vmax=hi, **kwargs)
    u = grid["x"]["units"]
    ax.set_xlabel(f"x ({u})")
    ax.set_ylabel(f"y ({u})")
    if title:
        ax.set_title(title, fontsize=10)
    return im


def overlay(ax, signal, alpha=0.55, **kwargs):
    """A map on the image grid (e.g. ``nb.get_cluster_map()``) over an image."""
    ax2 = signal.axes_manager.signal_axes
    grid = {
        k: {"offset": a.offset, "scale": a.scale, "size": a.size}
        for k, a in zip("xy", ax2)
    }
    return ax.imshow(
        np.asarray(signal.data, float),
        extent=extent(grid),
        alpha=alpha,
        interpolation="nearest",
        **kwargs,
    )


def cluster_colours(n, cmap="tab10"):
    """The colours ``get_cluster_markers(cmap)`` gives clusters 0..n-1."""
    cm = matplotlib.colormaps[cmap]
    return [cm(i % cm.N) for i in range(n)]


def cluster_cmap(n, cmap="tab10"):
    """A discrete colormap for labels 0..n-1 (same colours as the markers)."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    cm = ListedColormap(cluster_colours(n, cmap))
    return cm, BoundaryNorm(np.arange(n + 1) - 0.5, n)


def cluster_legend(ax, sizes, cmap="tab10", **kwargs):
    """Legend 'cluster i (n atoms)' with the cluster colours."""
    from matplotlib.patches import Patch

    handles = [
        Patch(color=c, label=f"{i}: {n}")
        for i, (c, n) in enumerate(zip(cluster_colours(len(sizes), cmap), sizes))
    ]
    kwargs.setdefault("fontsize", 8)
    kwargs.setdefault("title", "cluster: atoms")
    kwargs.setdefault("title_fontsize", 8)
    ax.legend(handles=handles, **kwargs)


def draw_points(ax, points, **kwargs):
    """Draw a HyperSpy ``Points`` marker (e.g. ``nb.get_cluster_markers()``)
    on a plain matplotlib axes, with its offsets and colours."""
    k = points.kwargs
    xy = np.asarray(k["offsets"])
    colours = k.get("color", k.get("facecolors", "r"))
    kwargs.setdefault("s", 12)
    ax.scatter(xy[:, 0], xy[:, 1], c=colours, **kwargs)


def top_merges(nb, n=8, **kwargs):
    """Heights of the last ``n`` merges of the dendrogram, highest first."""
    Z, _ = nb.get_linkage(**kwargs)
    return np.sort(Z[:, 2])[::-1][:n]


def k_from_dendrogram(nb, k_min=2, k_max=8, **kwargs):
    """K whose dendrogram cut sits in the largest gap between merge heights.

    Cutting below the (K-1)-th highest merge gives K clusters; the cut is
    most stable where the gap between the (K-1)-th and K-th merges is
    largest. Returns (K, heights of the top merges).
    """
    h = top_merges(nb, k_max + 1, **kwargs)
    ks = np.arange(k_min, k_max + 1)
    gaps = h[ks - 2] - h[ks - 1]
    return int(ks[np.argmax(gaps)]), h


def fix_mode_axes(fig, pad=1.35):
    """Give every panel of ``nb.plot_modes`` room for its outer atoms and arrows."""
    for ax in fig.axes:
        xs, ys = [], []
        for line in ax.lines:
            xs.extend(np.asarray(line.get_xdata(), float))
            ys.extend(np.asarray(line.get_ydata(), float))
        for arrows in ax.collections:  # the tips of the quiver arrows
            if hasattr(arrows, "U"):
                tips = arrows.get_offsets() + np.column_stack([arrows.U, arrows.V])
                xs.extend(tips[:, 0])
                ys.extend(tips[:, 1])
        r = pad * max(np.max(np.abs(xs)), np.max(np.abs(ys)))
        ax.set_xlim(-r, r)
        ax.set_ylim(r, -r)


def _palette_image(img, colours):
    """``img`` with ``colours`` colours: separate palettes for the grey image
    and for the (few, saturated) annotation colours, so that neither is lost."""
    from PIL import Image

    rgb = np.asarray(img)
    flat = rgb.reshape(-1, 3).astype(int)
    vivid = (flat.max(axis=1) - flat.min(axis=1)) > 40
    n_vivid = max(colours // 8, 4) if vivid.any() else 0
    parts = []
    for mask, n in ((~vivid, colours - n_vivid), (vivid, n_vivid)):
        if n == 0 or not mask.any():
            continue
        px = Image.fromarray(flat[mask].astype(np.uint8).reshape(-1, 1, 3))
        q = px.quantize(n, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        parts.extend(q.getpalette()[: 3 * n])
    pal = Image.new("P", (1, 1))
    pal.putpalette(parts + [0] * (768 - len(parts)))
    return img.quantize(palette=pal, dither=Image.Dither.NONE)


def save(fig, out, name):
    """Save a figure as an optimised PNG (palette if needed, < 400 kB); close it."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=DPI, format="png", bbox_inches="tight")
    plt.close(fig)
    buf.seek(0)
    img = Image.open(buf).convert("RGB")
    path = Path(out) / name
    img.save(path, optimize=True)
    for colours in (256, 128, 64, 32):  # if too big: fewer colours until it fits
        if path.stat().st_size <= MAX_PNG_BYTES:
            break
        _palette_image(img, colours).save(path, optimize=True)
    size = path.stat().st_size
    flag = "  (over 400 kB!)" if size > MAX_PNG_BYTES else ""
    print(f"  wrote {path} ({size / 1e3:.0f} kB){flag}")
    return path

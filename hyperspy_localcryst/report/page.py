"""The self-contained ``report.html``: the summary's numbers, tables and the
figures embedded (:func:`write_report`).
"""

import base64
import html
from pathlib import Path

import numpy as np

from ..signals._grid import (
    check_bool,
)
from .figures import FIGURES


def write_report(out_dir, summary, overwrite=False):
    """Write ``report.html``: the figures in ``out_dir`` (embedded) and the numbers.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Folder holding the figures of :data:`FIGURES`.
    summary : dict
        As returned by :func:`analyse`.
    overwrite : bool
        Replace an existing ``report.html`` (by default an existing file is
        never replaced: ``FileExistsError``).

    Returns
    -------
    pathlib.Path
        The report's path.

    Examples
    --------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> write_report(out, {"title": "empty", "parameters": {}}).name
    'report.html'
    """
    check_bool(overwrite, "overwrite")
    out = Path(out_dir)
    if not overwrite and (out / "report.html").exists():
        raise FileExistsError(
            f"{out / 'report.html'} exists; `write_report` replaces it only with "
            "overwrite=True."
        )
    esc = html.escape
    rows = "".join(
        f"<tr><th>{esc(str(key))}</th><td>{esc(str(v))}</td></tr>"
        for key, v in summary.get("parameters", {}).items()
    )
    numbers = []
    if "n_atoms" in summary:
        err = summary.get("median_position_error")
        numbers += [
            ("image", " x ".join(map(str, summary["image_shape"])) + " px"),
            ("frames", summary["n_frames"]),
            ("atoms found", summary["n_atoms"]),
            ("atoms refined", summary["n_refined"]),
            (
                "median position error (fit)",
                "n/a" if err is None else f"{err:.3g} {summary['units']}",
            ),
            ("centre atoms (neighbourhoods)", summary["n_centres"]),
            (
                "atoms that are no centre (neighbourhood crosses the image edge; "
                "cyan rings in atoms.png)",
                summary.get("n_border", "n/a"),
            ),
            (
                "atoms whose fit did not converge (red crosses in atoms.png)",
                summary.get("n_unconverged", "n/a"),
            ),
            (
                "frame shown in the figures",
                "the image"
                if summary.get("figure_frame") is None
                else summary["figure_frame"],
            ),
            (
                "failed frames",
                "; ".join(
                    f"{k}: {r}"
                    for k, r in zip(
                        summary.get("failed_frames", []),
                        summary.get("failed_reasons", []),
                    )
                )
                or "none",
            ),
            ("neighbours per neighbourhood", summary.get("n_neighbours", "")),
            ("clusters K", summary["n_clusters"]),
            ("why K", summary.get("clusters_reason", "")),
            (
                "cluster fractions",
                ", ".join(
                    f"{i}: {f:.1%}" for i, f in enumerate(summary["cluster_fractions"])
                ),
            ),
            *_mode_rows(summary),
            (
                "numba compilation (s; first run in a process, on a tiny image)",
                f"{summary['times_s']['compile_s']:.2f}"
                if "compile_s" in summary["times_s"]
                else "n/a",
            ),
            (
                "times without compilation (s)",
                ", ".join(
                    f"{k[:-2]} {v:.2f}"
                    for k, v in summary["times_s"].items()
                    if k != "compile_s"
                ),
            ),
        ]
    key_rows = "".join(
        f"<tr><th>{esc(str(a))}</th><td>{esc(str(b))}</td></tr>" for a, b in numbers
    )
    lattice_html = (
        _lattice_html(summary) + _phases_html(summary) + _measured_html(summary)
    )
    warn = summary.get("warnings") or []
    warn_html = (
        "<h2>Warnings</h2><ul>" + "".join(f"<li>{esc(w)}</li>" for w in warn) + "</ul>"
        if warn
        else ""
    )
    figs = []
    for name, caption in FIGURES.items():
        path = out / name
        if not path.exists():
            continue
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        figs.append(
            f'<figure><img alt="{esc(caption)}" data-file="{name}" '
            f'src="data:image/png;base64,{data}"><figcaption>{esc(caption)} '
            f"(<code>{name}</code>)</figcaption></figure>"
        )
    title = esc(str(summary.get("title") or "image"))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Local crystallography report: {title}</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
th {{ background: #f4f4f4; font-weight: normal; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; }}
figcaption {{ color: #444; font-size: 0.9em; }}
</style></head><body>
<h1>Local crystallography: {title}</h1>
<p>find &rarr; refine &rarr; neighbourhoods &rarr; PCA, site classes &rarr;
phases, symmetry, variants, defects, by hyperspy_localcryst. Files in this
folder: <code>atoms.csv</code> (with <code>site_class</code>,
<code>phase</code>, <code>variant</code>, <code>variant_wall</code>,
<code>phase_boundary</code>),
<code>defects.csv</code>, the per-atom table and the neighbourhood signal
(HyperSpy files), the PNG figures below, <code>summary.json</code>.</p>
<h2>Key numbers</h2><table>{key_rows}</table>
{lattice_html}
<h2>Parameters</h2><table>{rows}</table>
{warn_html}
<h2>Figures</h2>
{"".join(figs)}
<script>
// for automated checks: how many figures the browser decoded
window.addEventListener("load", () => {{
  const imgs = Array.from(document.images);
  document.body.dataset.figures = imgs.length;
  document.body.dataset.figuresLoaded = imgs.filter(
    (i) => i.complete && i.naturalWidth > 0).length;
}});
</script>
</body></html>
"""
    path = out / "report.html"
    # "x" mode: never replaces a file that appeared meanwhile
    with open(path, "w" if overwrite else "x", encoding="utf-8") as f:
        f.write(page)
    return path


def _lattice_html(summary):
    """The calibration used and the measured lattice parameters, as HTML."""
    esc = html.escape
    cal = summary.get("calibration")
    lattice = summary.get("lattice")
    if not cal and not lattice:
        return ""
    parts = []
    if cal:
        u = cal.get("units") or "px"
        sx, sy = cal["pixel_size"]
        size = f"{sx:.6g} {u}" if sx == sy else f"x {sx:.6g}, y {sy:.6g} {u}"
        rows = [("pixel size used", size), ("calibration from", cal.get("source"))]
        if "original_scale" in cal:
            ox, oy = cal["original_scale"]
            rows.append(
                (
                    "pixel size in the file",
                    (f"{ox:.6g}" if ox == oy else f"x {ox:.6g}, y {oy:.6g}")
                    + f" {cal.get('original_units') or '(uncalibrated)'}",
                )
            )
        if "factor_x" in cal:
            fx, fy = cal["factor_x"], cal["factor_y"]
            rows.append(
                (
                    "correction factor (lattice calibration)",
                    f"{fx:.5f}" if fx == fy else f"x {fx:.5f}, y {fy:.5f}",
                )
            )
            lp = cal.get("lattice_parameter")
            rows.append(
                ("lattice parameter given", f"{', '.join(f'{v:g}' for v in lp)} {u}")
            )
            m = cal.get("measured_before")
            if m:
                rows.append(
                    (
                        "lattice measured before the correction",
                        f"a = {m['a']:.5g}, b = {m['b']:.5g} {u}, gamma = "
                        f"{m['gamma']:.2f} deg",
                    )
                )
        parts.append(
            "<h2>Calibration</h2><table>"
            + "".join(
                f"<tr><th>{esc(str(a))}</th><td>{esc(str(b))}</td></tr>"
                for a, b in rows
            )
            + "</table>"
        )
    if lattice:
        head = (
            "<tr><th>atoms</th><th>a</th><th>b</th><th>gamma (deg)</th>"
            "<th>direction of a (deg from +x to +y)</th><th>atoms fitted</th>"
            "<th>misfit of one lattice (rms, px)</th></tr>"
        )
        body = []
        for r in lattice:
            if "error" in r:
                body.append(
                    f"<tr><td>{esc(r['atoms'])}</td><td colspan=6>not measured: "
                    f"{esc(r['error'])}</td></tr>"
                )
                continue
            u = r.get("units") or "px"
            cells = [
                r["atoms"],
                f"{_pm(r['a'], r['a_err'])} {u}",
                f"{_pm(r['b'], r['b_err'])} {u}",
                _pm(r["gamma"], r["gamma_err"]),
                f"{r['orientation']:.2f}",
                r["n_atoms"],
                f"{r['residual_rms']:.2g}",
            ]
            body.append(
                "<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in cells) + "</tr>"
            )
        parts.append(
            "<h2>Lattice parameters (measured)</h2><p>Primitive cell of the "
            "atoms (a &le; b, reduced cell), fitted by least squares to all "
            "atoms; &plusmn; one standard error from the fit residuals. A misfit "
            "well above the position errors means the lattice is not one "
            "(scan distortion, domains, several phases): the values are then "
            "averages and the errors optimistic.</p>"
            f"<table>{head}{''.join(body)}</table>"
        )
    return "\n".join(parts)


def _pm(value, err):
    """``value ± err`` with the value given to the error's precision."""
    if not (err > 0 and np.isfinite(err)):
        return f"{value:.5g}"
    digits = max(0, -int(np.floor(np.log10(err))))
    return f"{value:.{digits}f} ± {err:.{digits}f}"


def _phases_html(summary):
    """The phases, site classes (with their symmetry), variants and defect
    counts of a summary, as HTML ('' for older summaries)."""
    if "n_phases" not in summary:
        return ""
    esc = html.escape
    items = [f"<p>{esc(str(summary.get('phases_reason', '')))}</p>"]
    sentences = [p.get("description", "") for p in summary.get("phases", [])]
    sentences += [c.get("description", "") for c in summary.get("site_classes", [])]
    if sentences:
        items.append(
            "<ul>" + "".join(f"<li>{esc(t)}</li>" for t in sentences) + "</ul>"
        )
    groups = summary.get("variant_groups", [])
    if groups:
        rows = "".join(
            f"<tr><td>{g}</td><td>{esc(', '.join(str(v) for v in grp['site_classes']))}"
            f"</td><td>{esc(', '.join(grp['operations']))}</td></tr>"
            for g, grp in enumerate(groups)
        )
        items.append(
            "<table><tr><th>variant group</th><th>site classes of each variant"
            "</th><th>operation mapping variant 0 onto each</th></tr>"
            f"{rows}</table>"
        )
    else:
        items.append(
            "<p>No symmetry variants (no site classes that live apart and "
            "that one point operation relates).</p>"
        )
    counts = summary.get("defects") or {}
    items.append(
        "<p>Defects and boundaries (<code>defects.csv</code>): "
        + esc(", ".join(f"{k} {v}" for k, v in counts.items()) or "none found")
        + ".</p>"
    )
    return "<h2>Phases, symmetry, variants, defects</h2>" + "".join(items)


def _mode_rows(summary):
    """Key-number rows of the PCA modes (older summaries: the ratios only)."""
    m = summary.get("modes")
    if not m:
        return [
            (
                "explained variance ratio (first components)",
                ", ".join(f"{v:.3g}" for v in summary["explained_variance_ratio"]),
            )
        ]
    u = m["units"]
    sx, sy = m["mean_net_shift"]
    noise = m["mean_net_shift_noise"]
    mean = f"net shift of the centre ({sx:.3g}, {sy:.3g}) {u}" + (
        f" (noise per centre {noise:.3g} {u})" if noise is not None else ""
    )
    return [
        (
            "PCA",
            "centred: modes are deviations from the mean neighbourhood"
            if m["centred"]
            else "uncentred",
        ),
        ("mean neighbourhood", mean),
        *((f"PCA mode {r['component']}", r["title"]) for r in m["modes"]),
    ]


def _finite(value):
    """A float for JSON, None for NaN or infinity."""
    value = float(value)
    return round(value, 4) if np.isfinite(value) else None


def _measured_html(summary):
    """The polarisation and strain sentences of a summary, as HTML ('' for
    older summaries)."""
    esc = html.escape
    items = []
    for key, title in (("polarisation", "Polarisation"), ("strain", "Strain")):
        part = summary.get(key)
        if not part:
            continue
        text = part.get("sentence") or part.get("reason", "")
        items.append(f"<h3>{title}</h3><p>{esc(str(text))}</p>")
    if not items:
        return ""
    return "<h2>Polarisation and strain</h2>" + "".join(items)

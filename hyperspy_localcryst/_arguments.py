"""The command line's arguments: the parser of ``localcryst`` (its sub-commands,
options and help) and the checks of each value, which name the option and say
what it takes.
"""

import argparse


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr and exit status 1, like every other
    error of the command (argparse prints the whole usage and exits with 2)."""

    def error(self, message):
        self.exit(1, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _int_at_least(minimum, what):
    """An argparse type: an integer of at least ``minimum``, else one line."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")

_non_negative_int = _int_at_least(0, "a non-negative integer")

#: Length units accepted by --units (spelling given -> axis units).
_UNITS = {
    "nm": "nm",
    "pm": "pm",
    "A": "Å",
    "Å": "Å",
    "angstrom": "Å",
    "um": "µm",
    "µm": "µm",
    "mm": "mm",
    "m": "m",
}


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _length_units(text):
    if text not in _UNITS:
        raise argparse.ArgumentTypeError(
            f"must be one of nm, pm, A, um, mm, m, got {text!r}"
        )
    return _UNITS[text]


def _lattice_parameter(text):
    """``A`` or ``A,B``: one or two positive lengths."""
    parts = text.split(",")
    try:
        values = [float(v) for v in parts]
    except ValueError:
        values = []
    if len(parts) > 2 or not values or not all(0 < v < float("inf") for v in values):
        raise argparse.ArgumentTypeError(
            f"must be a positive length or two separated by a comma (a,b), got {text!r}"
        )
    return values[0] if len(values) == 1 else tuple(values)


def _parser():
    p = _Parser(
        prog="localcryst",
        description=(
            "Local crystallography for HyperSpy: find and refine every atomic "
            "column of an atomically resolved image, describe each atom by its "
            "neighbourhood and cluster the neighbourhoods."
        ),
        epilog="Run `localcryst COMMAND --help` for the options of each command.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    an = sub.add_parser(
        "analyse",
        aliases=["analyze"],
        help="whole pipeline on image files, with figures and report.html",
        description=(
            "Load each FILE (any format hs.load reads; image stacks included), "
            "find and refine the atoms, build the neighbourhoods, run PCA and "
            "k-means, and write into OUT/<file name>/: atoms.csv, atoms.hspy "
            "(or .zspy), neighbourhoods.hspy, PNG figures, summary.json and a "
            "self-contained report.html. A file that fails is reported and the "
            "others are still analysed (exit status 1 if any failed)."
        ),
    )
    an.add_argument("files", nargs="+", metavar="FILE", help="image files")
    an.add_argument(
        "--out",
        default="localcryst_results",
        help="output folder (default %(default)s)",
    )
    an.add_argument(
        "--signal-type",
        default=None,
        help="signal_type passed to hs.load (the image is then analysed as an "
        "atomic_image)",
    )
    an.add_argument(
        "--reader",
        default=None,
        help="RosettaSciIO reader passed to hs.load, e.g. HSPY for Atomap's .hdf5 "
        "files (default: chosen from the file extension)",
    )
    an.add_argument(
        "--pixel-size",
        type=_positive_float,
        default=None,
        metavar="VALUE",
        help="pixel size to use instead of the file's (same for x and y), e.g. "
        "0.00659 for a file without calibration; its units are --units",
    )
    an.add_argument(
        "--units",
        type=_length_units,
        default=None,
        help="units of --pixel-size: nm, pm, A (Ångström), um, mm or m (default: "
        "the file's units, nm for a file without any); only with --pixel-size",
    )
    an.add_argument(
        "--index",
        type=_non_negative_int,
        default=None,
        help="which signal to take when a file holds several (default: the only "
        "image in it)",
    )
    d = sub.add_parser(
        "demo",
        help="analyse the bundled PbTiO3/SrRuO3 interface image (real data)",
        description=(
            "Run `analyse` on the HAADF image of a PbTiO3/SrRuO3 interface shipped "
            "with the package (Hadjimichael et al., GPL-3.0 via TEMUL), with the "
            "same defaults as `analyse`: nothing is tuned for this image."
        ),
    )
    d.add_argument(
        "--out", default="localcryst_demo", help="output folder (default %(default)s)"
    )
    for a, demo in ((an, False), (d, True)):
        a.add_argument(
            "--separation",
            type=_positive_float,
            default=None,
            help="smallest column distance in calibrated units (default: "
            "estimated from the image)",
        )
        a.add_argument(
            "--contrast",
            choices=("auto", "bright", "dark"),
            default=None,
            help="column contrast passed to finding and refinement: bright "
            "(HAADF), dark (ABF, many STM/iDPC images) or auto (default: the "
            "finder's default)",
        )
        a.add_argument(
            "--lattice-parameter",
            type=_lattice_parameter,
            default=None,
            metavar="A[,B]",
            help="known lattice parameter(s) in the image's units: the pixel size "
            "is corrected so the measured cell (a <= b of the reduced cell; one "
            "value: a = b) equals it, before the analysis (e.g. 0.3905 for "
            "SrTiO3 [001] in nm); the report gives the correction factor",
        )
        a.add_argument(
            "--method",
            default="log",
            help="atom finder: log, template, local_max, sparse or a consensus such as "
            "template+log (default %(default)s)",
        )
        a.add_argument(
            "--neighbours",
            type=_auto_or_positive_int,
            default="auto",
            help="neighbours per neighbourhood, or auto: the first count that "
            "closes a shell of neighbours (4 on perovskite [001], 6 hexagonal, 3 "
            "honeycomb; default %(default)s)",
        )
        a.add_argument(
            "--metric",
            choices=("angle", "distance"),
            default="distance",
            help="neighbour ordering: distance (image frame: rotated "
            "neighbourhoods are different classes) or angle (rotation removed; "
            "default %(default)s)",
        )
        a.add_argument(
            "--clusters",
            default="auto",
            help="number of neighbourhood classes, or auto: split only where the "
            "neighbourhoods are bimodal beyond chance and beyond the position "
            "noise, 1 to 8, with the reason in the report (default %(default)s)",
        )
        a.add_argument(
            "--sublattices",
            type=_positive_int,
            default=2,
            help="atom types labelled by fitted amplitude (default %(default)s)",
        )
        a.add_argument(
            "--format",
            choices=("hspy", "zspy"),
            default="hspy",
            help="file format of the saved signals (default %(default)s)",
        )
        a.add_argument(
            "--seed",
            type=_non_negative_int,
            default=0,
            help="random seed (default 0)",
        )
        a.add_argument(
            "--preprocess",
            default="none",
            choices=("none", "background", "denoise", "background+denoise"),
            help="before finding: subtract a smooth background (e.g. STM height "
            "gradients, step edges) and/or Gaussian-denoise (default %(default)s)",
        )
        a.add_argument(
            "--no-progressbar", action="store_true", help="hide the progress bars"
        )
        a.add_argument(
            "--overwrite",
            action="store_true",
            help="replace an earlier localcryst result of the same name (a folder "
            "localcryst did not write, or one holding an input file or other "
            "files, is never replaced)",
        )
    f = sub.add_parser(
        "find",
        help="find + refine the atoms of one image file (no neighbourhoods)",
        description="Find and refine the atoms of FILE; write atoms.csv, "
        "atoms.hspy and atoms.png.",
    )
    f.add_argument("file", help="any image file hs.load reads")
    f.add_argument("--out", default=None, help="output folder (default FILE_atoms)")
    f.add_argument(
        "--separation",
        type=_positive_float,
        default=None,
        help="smallest column distance in calibrated units (default: estimated)",
    )
    f.add_argument(
        "--sublattices",
        type=_positive_int,
        default=2,
        help="atom types to label (default 2)",
    )
    f.add_argument(
        "--model",
        choices=("round", "elliptical"),
        default="round",
        help="Gaussian model of the refinement",
    )
    f.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier localcryst result (never a folder localcryst did "
        "not write, nor one holding the input)",
    )
    return p


def _known_signal_types():
    """The ``signal_type`` names (and aliases) of HyperSpy and its extensions.

    Read the way HyperSpy's documented extension mechanism declares them:
    the ``hyperspy_extension.yaml`` of HyperSpy itself and of every package
    registered under the ``hyperspy.extensions`` entry point.
    """
    from importlib import metadata, resources

    import yaml

    packages = ["hyperspy"] + [
        ep.module.split(".")[0]
        for ep in metadata.entry_points(group="hyperspy.extensions")
    ]
    known = set()
    for package in dict.fromkeys(packages):
        try:
            text = (resources.files(package) / "hyperspy_extension.yaml").read_text()
            specs = (yaml.safe_load(text) or {}).get("signals") or {}
        except Exception:  # a broken third-party extension is HyperSpy's to report
            continue
        for spec in specs.values():
            known.add(spec.get("signal_type") or "")
            known.update(spec.get("signal_type_aliases") or [])
    known.discard("")
    return known


def _auto_or_positive_int(text):
    if text == "auto":
        return text
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be 'auto' or a positive integer, got {text!r}"
        ) from None


def _clusters(value):
    if value == "auto":
        return value
    try:
        k = int(value)
    except ValueError:
        k = 0
    if k < 1:
        raise ValueError(
            f"--clusters must be 'auto' or a positive integer, got {value!r}."
        )
    return k

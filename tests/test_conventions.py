"""HyperSpy's conventions on the methods that process frames in bulk.

``show_progressbar`` (None: ``hs.preferences.General.show_progressbar``),
``num_workers`` and ``lazy_output`` as HyperSpy's ``map`` takes them: the bar
appears on stderr only when asked for (or when the preference says so), and
the results do not depend on the number of workers.
"""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_localcryst.data.synthetic import make_drift_stack
from hyperspy_localcryst.signals.atomic_image import AtomicImage


@pytest.fixture(scope="module")
def stack():
    frames, _ = make_drift_stack(n_frames=4, shape=(96, 96), seed=0)
    return AtomicImage(frames)


BULK = {
    "estimate_drift": lambda s, **kw: s.estimate_drift(**kw),
    "align_frames": lambda s, **kw: s.align_frames(**kw),
    "sum_frames": lambda s, **kw: s.sum_frames(**kw),
    "normalise_contrast": lambda s, **kw: s.normalise_contrast(**kw),
    "denoise": lambda s, **kw: s.denoise(**kw),
    "remove_background": lambda s, **kw: s.remove_background(sigma=0.05, **kw),
}


@pytest.fixture
def preference():
    old = hs.preferences.General.show_progressbar
    yield
    hs.preferences.General.show_progressbar = old


@pytest.mark.parametrize("name", list(BULK))
def test_progress_bar_shown_only_when_asked(stack, name, capsys, preference):
    call = BULK[name]
    call(stack, show_progressbar=True)
    assert "100%" in capsys.readouterr().err
    call(stack, show_progressbar=False)
    assert capsys.readouterr().err == ""
    # None: HyperSpy's preference decides
    hs.preferences.General.show_progressbar = False
    call(stack)
    assert capsys.readouterr().err == ""
    hs.preferences.General.show_progressbar = True
    call(stack)
    assert "100%" in capsys.readouterr().err


@pytest.mark.parametrize("name", list(BULK))
def test_show_progressbar_must_be_a_bool(stack, name):
    with pytest.raises(TypeError, match="show_progressbar"):
        BULK[name](stack, show_progressbar="yes")


PARALLEL = ["align_frames", "normalise_contrast", "denoise", "remove_background"]


@pytest.mark.parametrize("name", PARALLEL)
def test_num_workers_do_not_change_the_result(stack, name):
    one = BULK[name](stack, num_workers=1, show_progressbar=False)
    two = BULK[name](stack, num_workers=2, show_progressbar=False)
    np.testing.assert_array_equal(one.data, two.data)
    assert type(one) is type(two) and not one._lazy
    with pytest.raises((TypeError, ValueError), match="num_workers"):
        BULK[name](stack, num_workers=0)


@pytest.mark.parametrize("name", PARALLEL)
def test_lazy_output(stack, name):
    lazy = BULK[name](stack, lazy_output=True, show_progressbar=False)
    assert lazy._lazy and type(lazy).__name__ == "LazyAtomicImage"
    eager = BULK[name](stack, show_progressbar=False)
    lazy.compute()
    np.testing.assert_array_equal(lazy.data, eager.data)
    with pytest.raises(TypeError, match="lazy_output"):
        BULK[name](stack, lazy_output="no")

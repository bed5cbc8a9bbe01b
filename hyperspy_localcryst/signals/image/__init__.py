"""The methods of :class:`~hyperspy_localcryst.signals.atomic_image.AtomicImage`,
one module per step (the class inherits them; use the class).

- :mod:`.frames`: the frame machinery (one function over every frame of an
  image or a stack, failed frames, pooled tables);
- :mod:`.preprocessing`: contrast normalisation, denoising, background;
- :mod:`.finding`: the separation, contrast, noise and the finders;
- :mod:`.refining`: the Gaussian refinement and its errors;
- :mod:`.series`: drift, alignment and summing of a series;
- :mod:`.calibration`: the pixel size from a lattice parameter, and the
  atoms drawn on the image.
"""

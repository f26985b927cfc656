"""Docstring examples run with fixed print options, so they read the same on every numpy version."""

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _fixed_print_options(request):
    if request.node.__class__.__name__ != "DoctestItem":
        yield
        return
    saved = np.get_printoptions()
    np.set_printoptions(legacy="1.25")
    yield
    np.set_printoptions(**saved)

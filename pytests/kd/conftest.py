import pytest

from kd_helpers import Kdsim


@pytest.fixture
def kdsim(tmp_path):
    sims = []

    def start(*args):
        s = Kdsim(tmp_path, *args)
        sims.append(s)
        return s

    yield start
    for s in sims:
        s.stop()

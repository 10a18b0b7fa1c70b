"""kdproxy's fixture: every kdsim and kdproxy a test starts is stopped after it."""
import pytest

from kdproxy_helpers import Kdproxy, start_kdsim


@pytest.fixture
def rig(tmp_path):
    started = []

    class Rig:
        def kdsim(self, name, *args):
            s = start_kdsim(tmp_path, name, *args)
            started.append(s)
            return s

        def kdproxy(self, target, *args):
            p = Kdproxy(tmp_path, target, *args)
            started.append(p)
            return p

    yield Rig()
    for s in reversed(started):
        s.stop()

"""The remoting fixture (helpers live in remote_helpers.py: a module name no other
folder's conftest can shadow)."""
import pytest

from remote_helpers import Remoting


@pytest.fixture
def remoting(tmp_path):
    r = Remoting(tmp_path)
    yield r
    r.cleanup()



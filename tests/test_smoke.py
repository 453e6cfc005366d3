import pretrained
import ulmfit
import vision


def test_packages_import():
    assert ulmfit.__version__
    assert pretrained.__doc__ and vision.__doc__

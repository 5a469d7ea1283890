# Grad of: pair (golden_functions.py:63)
def pair_forward(x, y):
    s = x + y
    p = x * y
    _t1 = s, p
    return _t1, (x, y)


def pair_backward(_saved, _dout):
    x, y = _saved
    # adjoint of: return s, p
    ds = _zp.item(_dout, 0)
    dp = _zp.item(_dout, 1)
    # adjoint of: p = x * y
    dx = dp * y
    dy = dp * x
    # adjoint of: s = x + y
    dx = dx + ds
    dy = dy + ds
    return None, dx, dy

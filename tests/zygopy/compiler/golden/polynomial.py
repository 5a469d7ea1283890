# Grad of: polynomial (golden_functions.py:16)
def polynomial_forward(x, y):
    _t1 = x ** 2
    _t2 = 3 * _t1
    _t3 = 2 * x
    _t4 = _t2 + _t3
    _t5 = _t4 + y
    return _t5, (x,)


def polynomial_backward(_saved, _dout):
    x, = _saved
    # adjoint of: return 3 * x**2 + 2 * x + y
    dy = _dout
    dx = _dout * 2
    d_t1 = _dout * 3
    dx = dx + d_t1 * (2 * x)
    return None, dx, dy

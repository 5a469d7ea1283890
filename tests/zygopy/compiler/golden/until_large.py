# Grad of: until_large (golden_functions.py:35)
def until_large_forward(x):
    _n10 = None
    steps = 0
    _brk2 = False
    _n10 = 0
    while True:
        _n10 = _n10 + 1
        _skip1 = False
        _t3 = x * 1.5
        x = _t3 + 0.1
        _t4 = steps + 1
        steps = _t4
        _t5 = x > 10.0
        _t6 = not _t5
        _c7 = _t6
        if _c7:
            _t5 = steps >= 20
        _c8 = _t5
        if _c8:
            _skip1 = True
            _brk2 = True
        _c9 = _brk2
        if _c9:
            break
    return x, (_n10,)


def until_large_backward(_saved, _dout):
    _n10, = _saved
    dx = _dout
    # adjoint of: while True:
    for _ in range(_n10):
        # adjoint of: x = x * 1.5 + 0.1
        d_t3 = dx
        dx = d_t3 * 1.5
    return None, dx

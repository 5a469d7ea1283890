# Grad of: until_large (golden_functions.py:35)
def until_large_forward(x):
    _tape = []
    _c7 = None
    _c8 = None
    _c9 = None
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
        _tape.append(_c7)
        _c7 = _t6
        if _c7:
            _t5 = steps >= 20
        _tape.append(_c8)
        _c8 = _t5
        if _c8:
            _skip1 = True
            _brk2 = True
        _tape.append(_c9)
        _c9 = _brk2
        if _c9:
            break
    return x, (_c7, _c8, _c9, _n10, _tape)


def until_large_backward(_saved, _dout):
    _c7, _c8, _c9, _n10, _tape = _saved
    _tape = _tape.copy()
    dx = _dout
    # adjoint of: while True:
    for _ in range(_n10):
        if _c9:
            pass
        else:
            pass
        _c9 = _tape.pop()
        # adjoint of: if x > 10.0 or steps >= 20:
        if _c8:
            pass
        else:
            pass
        _c8 = _tape.pop()
        if _c7:
            pass
        else:
            pass
        _c7 = _tape.pop()
        # adjoint of: x = x * 1.5 + 0.1
        d_t3 = dx
        dx = d_t3 * 1.5
    return None, dx

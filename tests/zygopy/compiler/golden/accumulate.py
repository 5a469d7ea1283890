# Grad of: accumulate (golden_functions.py:28)
def accumulate_forward(x, n):
    _tape = []
    _n7 = None
    _t4 = None
    i = None
    total = 0.0
    _t1 = range(n)
    _n7 = 0
    for _item2 in _t1:
        _n7 = _n7 + 1
        _tape.append(i)
        i = _item2
        _t3 = x ** i
        _tape.append(_t4)
        _t4 = i + 1
        _t5 = _t3 / _t4
        _t6 = total + _t5
        total = _t6
    return total, (_n7, _t4, _tape, i, x)


def accumulate_backward(_saved, _dout):
    _n7, _t4, _tape, i, x = _saved
    _tape = _tape.copy()
    dtotal = _dout
    # adjoint of: for i in range(n):
    dx = _zp.ZERO
    for _ in range(_n7):
        # adjoint of: total = total + x**i / (i + 1)
        d_t6 = dtotal
        dtotal = d_t6
        d_t5 = d_t6
        d_t3 = d_t5 * (1 / _t4)
        _t4 = _tape.pop()
        dx = dx + d_t3 * (i * x ** _zp.powexp(i))
        i = _tape.pop()
    return None, dx, _zp.ZERO

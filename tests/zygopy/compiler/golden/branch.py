# Grad of: branch (golden_functions.py:20)
def branch_forward(x, y):
    if math.sin is not _guard0:
        _zp.stale()
    _c2 = None
    _t1 = x > y
    _c2 = _t1
    if _c2:
        z = x * y
    else:
        _t3 = math.sin(x)
        z = _t3 + y
    _t4 = z * 2
    return _t4, (_c2, x, y)


def branch_backward(_saved, _dout):
    _c2, x, y = _saved
    # adjoint of: return z * 2
    dz = _dout * 2
    # adjoint of: if x > y:
    dx = _zp.ZERO
    dy = _zp.ZERO
    if _c2:
        # adjoint of: z = x * y
        dx = dx + dz * y
        dy = dy + dz * x
        dz = _zp.ZERO
    else:
        # adjoint of: z = math.sin(x) + y
        d_t3 = dz
        dy = dy + dz
        dx = dx + d_t3 * math.cos(x)
        dz = _zp.ZERO
    return None, dx, dy

# Grad of: closure (golden_functions.py:45)
def closure_forward(x, y):
    _c4 = None
    _ret1_pb = None
    _t5_pb = None
    _ret1 = None
    _done2 = False
    scale = y * 2

    def inner(z):
        return z * scale + math.exp(z)
    _t3 = not _done2
    _c4 = _t3
    if _c4:
        _t5, _t5_pb = _zp.call(inner, x)
        _ret1, _ret1_pb = _zp.call(_zp.op_sub, _t5, scale)
        _done2 = True
    return _ret1, (_c4, _ret1_pb, _t5_pb)


def closure_backward(_saved, _dout):
    _c4, _ret1_pb, _t5_pb = _saved
    d_ret1 = _dout
    # adjoint of: return inner(x) - scale
    dinner = _zp.ZERO
    dscale = _zp.ZERO
    dx = _zp.ZERO
    if _c4:
        # adjoint of: return inner(x) - scale
        _grads6 = _ret1_pb(d_ret1)
        d_t5 = _grads6[1]
        dscale = dscale + _grads6[2]
        _grads7 = _t5_pb(d_t5)
        dinner = _zp.add(dinner, _grads7[0])
        dx = dx + _grads7[1]
        d_ret1 = _zp.ZERO
    else:
        pass
    # adjoint of: def inner(z):
    dscale = dscale + _zp.field(dinner, 'scale')
    # adjoint of: scale = y * 2
    dy = dscale * 2
    return None, dx, dy

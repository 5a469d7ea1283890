# Grad of: layer (golden_functions.py:77)
def layer_forward(W, b, x):
    if np.tanh is not _guard0 or np.sum is not _guard1:
        _zp.stale()
    _t1 = None
    _t3 = None
    h = None
    _t1 = W @ x
    _t2 = _t1 + b
    h = np.tanh(_t2)
    _t3 = h ** 2
    _t4 = _zp.sum_of(_t3)
    return _t4, (W, _t1, _t3, b, h, x)


def layer_backward(_saved, _dout):
    W, _t1, _t3, b, h, x = _saved
    # adjoint of: return np.sum(h**2)
    d_t3 = _zp.sum_adjoint(_dout, _t3)
    dh = d_t3 * (2 * h)
    # adjoint of: h = np.tanh(W @ x + b)
    d_t2 = dh * (1 - h * h)
    d_t1 = _zp.unbroadcast(d_t2, _t1)
    db = _zp.unbroadcast(d_t2, b)
    _g5 = _zp.matmul_adjoint(d_t1, W, x, True, True)
    dW = _g5[0]
    dx = _g5[1]
    return None, dW, db, dx

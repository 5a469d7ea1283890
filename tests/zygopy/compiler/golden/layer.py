# Grad of: layer (golden_functions.py:77)
def layer_forward(W, b, x):
    if not np.tanh is _guard0:
        _zp.stale()
    _t1 = None
    _t1_pb = None
    _t2 = None
    _t4_pb = None
    h = None
    _t1, _t1_pb = _zp.call(_zp.op_matmul, W, x)
    _t2 = _t1 + b
    h = np.tanh(_t2)
    _t3 = h ** 2
    _t4, _t4_pb = _zp.call(np.sum, _t3)
    return _t4, (_t1, _t1_pb, _t2, _t4_pb, b, h)


def layer_backward(_saved, _dout):
    _t1, _t1_pb, _t2, _t4_pb, b, h = _saved
    d_t4 = _dout
    # adjoint of: return np.sum(h**2)
    _grads5 = _t4_pb(d_t4)
    d_t3 = _grads5[1]
    dh = _zp.unbroadcast(d_t3 * (2 * h ** (2 - 1)), h)
    # adjoint of: h = np.tanh(W @ x + b)
    d_t2 = _zp.unbroadcast(dh * (1 - h * h), _t2)
    d_t1 = _zp.unbroadcast(d_t2, _t1)
    db = _zp.unbroadcast(d_t2, b)
    _grads6 = _t1_pb(d_t1)
    dW = _grads6[1]
    dx = _grads6[2]
    return None, dW, db, dx

# Grad of: Affine.energy (golden_functions.py:92)
def energy_forward(self, x):
    _t1_pb = None
    _t2_pb = None
    _t1, _t1_pb = _zp.call(self, x)
    _t2, _t2_pb = _zp.call_masked((True, False), _zp.op_pow, _t1, 2)
    return _t2, (_t1_pb, _t2_pb)


def energy_backward(_saved, _dout):
    _t1_pb, _t2_pb = _saved
    # adjoint of: return self(x) ** 2
    _grads3 = _t2_pb(_dout)
    d_t1 = _grads3[1]
    _grads4 = _t1_pb(d_t1)
    dself = _grads4[0]
    dx = _grads4[1]
    return None, dself, dx

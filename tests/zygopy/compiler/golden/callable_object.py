# Grad of: Affine.__call__ (golden_functions.py:89)
def call_forward(self, x):
    _t2_pb = None
    _t4_pb = None
    _t1 = self.w
    _t2, _t2_pb = _zp.call(_zp.op_mul, _t1, x)
    _t3 = self.c
    _t4, _t4_pb = _zp.call(_zp.op_add, _t2, _t3)
    return _t4, (_t2_pb, _t4_pb, self)


def call_backward(_saved, _dout):
    _t2_pb, _t4_pb, self = _saved
    # adjoint of: return self.w * x + self.c
    _grads5 = _t4_pb(_dout)
    d_t2 = _grads5[1]
    d_t3 = _grads5[2]
    dself = _zp.attr_adjoint(_zp.ZERO, self, 'c', d_t3)
    _grads6 = _t2_pb(d_t2)
    d_t1 = _grads6[1]
    dx = _grads6[2]
    dself = _zp.attr_adjoint(dself, self, 'w', d_t1)
    return None, dself, dx

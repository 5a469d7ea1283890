# Grad of: lists (golden_functions.py:69)
def lists_forward(x):
    _tape = []
    _item5_pb = None
    _list4_pb = None
    _n11 = None
    _n12 = None
    _t10_pb = None
    _t6_pb = None
    _t7_pb = None
    _t9_pb = None
    k = None
    values_pb = None
    values = []
    _t1 = range(3)
    _n11 = 0
    for _item2 in _t1:
        _n11 = _n11 + 1
        _tape.append(k)
        k = _item2
        _t3 = x * k
        _tape.append(values_pb)
        values, values_pb = _zp.call(_zp.list_append, values, _t3)
    _list4 = []
    _n12 = 0
    for _i13 in range(len(values)):
        _n12 = _n12 + 1
        _tape.append(_item5_pb)
        _item5, _item5_pb = _zp.call(_zp.getitem, values, _i13)
        v = _item5
        _tape.append(_t6_pb)
        _t6, _t6_pb = _zp.call(_zp.op_mul, v, v)
        _tape.append(_list4_pb)
        _list4, _list4_pb = _zp.call(_zp.list_append, _list4, _t6)
    squares = _list4
    _t7, _t7_pb = _zp.call(sum, squares)
    _t8 = -1
    _t9, _t9_pb = _zp.call(_zp.getitem, values, _t8)
    _t10, _t10_pb = _zp.call(_zp.op_add, _t7, _t9)
    return _t10, (_item5_pb, _list4_pb, _n11, _n12, _t10_pb, _t6_pb, _t7_pb, _t9_pb, _tape, k, values_pb)


def lists_backward(_saved, _dout):
    _item5_pb, _list4_pb, _n11, _n12, _t10_pb, _t6_pb, _t7_pb, _t9_pb, _tape, k, values_pb = _saved
    _tape = _tape.copy()
    # adjoint of: return sum(squares) + values[-1]
    _grads14 = _t10_pb(_dout)
    d_t7 = _grads14[1]
    d_t9 = _grads14[2]
    _grads15 = _t9_pb(d_t9)
    dvalues = _grads15[1]
    _grads16 = _t7_pb(d_t7)
    dsquares = _grads16[1]
    # adjoint of: squares = [v * v for v in values]
    d_list4 = dsquares
    dv = _zp.ZERO
    for _ in range(_n12):
        # adjoint of: squares = [v * v for v in values]
        _grads17 = _list4_pb(d_list4)
        d_list4 = _grads17[1]
        d_t6 = _grads17[2]
        _list4_pb = _tape.pop()
        _grads18 = _t6_pb(d_t6)
        dv = _zp.add(dv, _grads18[1])
        dv = _zp.add(dv, _grads18[2])
        _t6_pb = _tape.pop()
        d_item5 = dv
        _grads19 = _item5_pb(d_item5)
        dvalues = _zp.add(dvalues, _grads19[1])
        _item5_pb = _tape.pop()
        dv = _zp.ZERO
    # adjoint of: for k in range(3):
    dx = _zp.ZERO
    for _ in range(_n11):
        # adjoint of: values.append(x * k)
        _grads20 = values_pb(dvalues)
        dvalues = _grads20[1]
        d_t3 = _grads20[2]
        values_pb = _tape.pop()
        dx = dx + d_t3 * k
        k = _tape.pop()
    return None, dx

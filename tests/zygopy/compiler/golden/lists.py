# Grad of: lists (golden_functions.py:69)
def lists_forward(x):
    _tape = []
    _list5_pb = None
    _n12 = None
    _n13 = None
    _t10_pb = None
    _t11_pb = None
    _t7_pb = None
    _t8_pb = None
    k = None
    values = None
    values_pb = None
    _tape.append(values)
    values = []
    _t1 = range(3)
    _n12 = 0
    for _item2 in _t1:
        _n12 = _n12 + 1
        _tape.append(k)
        k = _item2
        _t3 = x * k
        _tape.append(values)
        _tape.append(values_pb)
        values, values_pb = _zp.call(_zp.list_append, values, _t3)
    _list5 = []
    _seq15 = _zp.indexable(values)
    _n13 = 0
    for _i14 in range(len(_seq15)):
        _n13 = _n13 + 1
        _item6 = _seq15[_i14]
        _v_4 = _item6
        _tape.append(_t7_pb)
        _t7, _t7_pb = _zp.call(_zp.op_mul, _v_4, _v_4)
        _tape.append(_list5_pb)
        _list5, _list5_pb = _zp.call(_zp.list_append, _list5, _t7)
    squares = _list5
    _t8, _t8_pb = _zp.call(sum, squares)
    _t9 = -1
    _t10, _t10_pb = _zp.call(_zp.getitem, values, _t9)
    _t11, _t11_pb = _zp.call(_zp.op_add, _t8, _t10)
    return _t11, (_list5_pb, _n12, _n13, _t10_pb, _t11_pb, _t7_pb, _t8_pb, _tape, k, values, values_pb)


def lists_backward(_saved, _dout):
    _list5_pb, _n12, _n13, _t10_pb, _t11_pb, _t7_pb, _t8_pb, _tape, k, values, values_pb = _saved
    _tape = _tape.copy()
    # adjoint of: return sum(squares) + values[-1]
    _grads16 = _t11_pb(_dout)
    d_t8 = _grads16[1]
    d_t10 = _grads16[2]
    _grads17 = _t10_pb(d_t10)
    dvalues = _grads17[1]
    _grads18 = _t8_pb(d_t8)
    dsquares = _grads18[1]
    # adjoint of: squares = [v * v for v in values]
    d_list5 = dsquares
    _items19 = _zp.Items()
    for _j20 in range(_n13 - 1, -1, -1):
        # adjoint of: squares = [v * v for v in values]
        _grads21 = _list5_pb(d_list5)
        d_list5 = _grads21[1]
        d_t7 = _grads21[2]
        _list5_pb = _tape.pop()
        _grads22 = _t7_pb(d_t7)
        d_v_4 = _grads22[1]
        d_v_4 = _zp.add(d_v_4, _grads22[2])
        _t7_pb = _tape.pop()
        d_item6 = d_v_4
        _items19.add(_j20, d_item6)
    dvalues = _zp.add(dvalues, _items19.of(values))
    # adjoint of: for k in range(3):
    dx = _zp.ZERO
    for _ in range(_n12):
        # adjoint of: values.append(x * k)
        _grads23 = values_pb(dvalues)
        dvalues = _grads23[1]
        d_t3 = _grads23[2]
        values_pb = _tape.pop()
        values = _tape.pop()
        dx = dx + d_t3 * k
        k = _tape.pop()
    values = _tape.pop()
    return None, dx

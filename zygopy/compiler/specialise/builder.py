"""The gradient builder of a specialisation: `build(_s, _g, _args)` turns the
flat function's gradients back into the structural gradient of each argument."""

from __future__ import annotations

import types

from ...runtime.structure import object_fields
from .objects import attribute_of, zero_like_of
from .values import Const, Dyn, Static, Unspecialisable


def write_builder(spec, mask):
    """`build(_s, _g)`: the gradient of each argument from `_g`, the flat
    function's (one per parameter), mirroring what `materialize` makes of
    the general path's: a Tangent per object with every field, a tuple per
    tuple; fields the code never read get the zero of their value (`_s`:
    the structures, as the guard found them)."""
    index = {leaf.name: i for i, leaf in enumerate(spec.leaves)}
    names = spec.build_names
    statics = {var: i for i, var in enumerate(spec.statics)}

    def const_name(value):
        for k, v in names.items():
            if v is value:
                return k
        k = f"_T{len(names)}"
        names[k] = value
        return k

    def unread(access):  # (read now: the guard does not check it)
        return f"_zl({access})"

    def constant(access, value):
        return "None" if zero_like_of(value) is None else f"_zl({access})"

    def tangent(value, access):
        if isinstance(value, Dyn):
            return f"_g[{index[value.node.id]}]"
        if isinstance(value, Const):
            return constant(access, value.value)
        if not isinstance(value, Static):
            raise Unspecialisable("an argument the builder cannot mirror")
        obj, me = value.obj, f"_s[{statics[value.var]}]"

        def part(attribute, key, sub_access):
            found = value.reads.get((attribute, key))
            if found is None:
                return unread(sub_access)
            return tangent(found[0], sub_access)

        if type(obj) in (tuple, list):
            items = [part(False, i, f"{me}[{i}]") for i in range(len(obj))]
            if type(obj) is list:
                return f"[{', '.join(items)}]"
            return f"({', '.join(items)},)" if items else "()"
        if type(obj) is dict:
            return "{" + ", ".join(f"{k!r}: {part(False, k, f'{me}[{k!r}]')}"
                                   for k in obj) + "}"
        if isinstance(obj, types.FunctionType):  # (None where nothing it holds is
            cells = obj.__code__.co_freevars  # differentiable, as in general)
            fields = [f"{k!r}: {part(False, k, f'{me}.__closure__[{i}].cell_contents')}"
                      for i, k in enumerate(cells)]
            return f"_closure_tangent({me}, {{{', '.join(fields)}}})"
        fields = [f"{k!r}: {part(True, k, attribute_of(me, k))}" for k in object_fields(obj)]
        return f"_Tangent({const_name(type(obj))}, {{{', '.join(fields)}}})"

    outs = []
    for i, (value, differentiated) in enumerate(zip(spec.arguments, mask)):
        if not differentiated:
            outs.append("None")
        elif isinstance(value, Const):
            outs.append(unread(f"_args[{i}]"))
        else:
            outs.append(tangent(value, f"_args[{i}]"))
    spec.build_text = (f"def build(_s, _g, _args):\n"
                       f"    return ({', '.join(outs)},)\n")

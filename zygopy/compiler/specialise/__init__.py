"""Specialise a function on the structure of its object arguments.

`gradient(loss, model, x, y)` on a Chain of Dense layers runs, in general, one
dispatched call per layer, per activation and per loss helper, each way, and
builds a structural tangent per object: Python overhead that a training step of
a small model spends more time on than on its arithmetic. This pass writes
instead one flat function of arrays, the program the call makes *for this
model's structure*: the methods and functions it calls on the model inlined,
loops over the model's layers unrolled, conditions on its fields decided
(`if self.bias is not None`), every array of the model a parameter:

    def loss__Chain(x, y, model_layers_0_weight, model_layers_0_bias, ...):
        check_size(_objects.now[0], 'input features (last axis)', ...)
        y_2 = x @ model_layers_0_weight.T
        y_3 = y_2 + model_layers_0_bias
        x_2 = relu(y_3)
        ...

The flat function is differentiated like any other (and fused by the fast
path); `runtime.specialised` guards each call (the same types, the same
fields, the same constants, the same code as when it was made), extracts the
arrays and rebuilds the structural gradient from the flat one.

Only what is certain is specialised: anything this pass does not understand
(a field written, a property, a starred call, a comprehension over the model,
a return inside a branch, ...) raises `Unspecialisable`, and the call goes the
general way. The inlined code is the user's code: values the program computes
stay computations; only the model's structure is fixed.

Modules: `values` (what the pass knows of a value), `objects` (which objects
it sees into, which functions it inlines), `specialiser` (arguments, guard,
flat function), `frame` (one inlined call's statements and expressions),
`builder` (the structural gradient from the flat one), `lines` (where the
flat function's lines come from).
"""

from .specialiser import Specialiser
from .values import Unspecialisable

__all__ = ["Specialiser", "Unspecialisable"]

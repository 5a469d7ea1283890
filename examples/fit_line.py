"""Predict 4x + 2 with Dense(1, 1): the Flux overview, step by step (shared seed 004).

Julia                                   Python
actual(x) = 4x + 2                      def actual(x): return 4 * x + 2
x_train, x_test = hcat(0:5...), ...     x_train = np.arange(0, 6).reshape(6, 1)  (batch first)
predict = Dense(1, 1)                   predict = Dense(1, 1)
loss(x, y) = Flux.Losses.mse(predict(x), y)   def loss(x, y): return mse(predict(x), y)
opt = Descent(); data = [(x_train, y_train)]  the same
parameters = params(predict)            parameters = layers.params(predict)
train!(loss, parameters, data, opt)     train(loss, parameters, data, opt)

Current Flux writes the same with the model explicit:
``train!((m, x, y) -> mse(m(x), y), predict, data, opt)``, which is
``train(lambda m, x, y: mse(m(x), y), predict, data, opt)`` here; the script
runs both and checks they agree.

Run: ``python examples/fit_line.py`` (``--fast`` or ``ZYGOPY_FAST=1`` is accepted
for uniformity with the other examples; this one is fast anyway).
"""

import argparse
import os

import numpy as np

import layers
from layers import Dense, Descent, mse, train


def actual(x):
    return 4 * x + 2


# float32 like Flux's Dense; batch first: one row per observation.
x_train = np.arange(0, 6, dtype=np.float32).reshape(6, 1)
x_test = np.arange(6, 11, dtype=np.float32).reshape(5, 1)
y_train, y_test = actual(x_train), actual(x_test)

layers.set_seed(0)  # reproducible initial weight
predict = Dense(1, 1)


def loss(x, y):
    return mse(predict(x), y)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--fast",
        action="store_true",
        default=os.environ.get("ZYGOPY_FAST") == "1",
        help="accepted for uniformity (this example is fast); also ZYGOPY_FAST=1",
    )
    return p.parse_args()


def main():
    parse_args()
    epochs = 200
    print(predict)
    print("untrained predictions on x_train:", predict(x_train).ravel().round(4))
    print(f"loss before training: {float(loss(x_train, y_train)):.4f}")
    start = (predict.weight.copy(), predict.bias.copy())

    opt = Descent()  # eta = 0.1, Flux's default
    data = [(x_train, y_train)]
    parameters = layers.params(predict)
    print(
        "weight in parameters, bias in parameters:",
        (predict.weight in parameters, predict.bias in parameters),
    )

    train(loss, parameters, data, opt, progress=False)  # one step
    print(f"loss after one step:  {float(loss(x_train, y_train)):.4f}")
    for _ in range(epochs - 1):  # as the tutorial's `for epoch in 1:200`
        train(loss, parameters, data, opt, progress=False)
    print(f"loss after {epochs} epochs: {float(loss(x_train, y_train)):.6f}")
    w, b = float(predict.weight[0, 0]), float(predict.bias[0])
    print(f"parameters: weight = {w:.4f}, bias = {b:.4f}  (true: 4, 2)")

    print("\n    x   prediction   true")
    for x, yhat, y in zip(x_test.ravel(), predict(x_test).ravel(), y_test.ravel()):
        print(f"{x:5.1f}   {yhat:10.4f}   {y:4.0f}")
    err = np.max(np.abs(predict(x_test) - y_test))
    print(f"max |prediction - true| on x_test: {err:.4f}")

    # The explicit style from the same start gives the same parameters.
    model = Dense(1, 1)
    model.weight[...], model.bias[...] = start
    state = layers.setup(Descent(), model)  # one state shared by the calls
    for _ in range(epochs):
        train(lambda m, x, y: mse(m(x), y), model, data, state, progress=False)
    same = np.allclose(model.weight, predict.weight, rtol=1e-5) and np.allclose(
        model.bias, predict.bias, rtol=1e-5, atol=1e-6
    )
    print(f"explicit style (train(loss, model, ...)) agrees: {same}")


if __name__ == "__main__":
    main()

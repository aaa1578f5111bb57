"""Compiled training steps (numba): the same math as `labrnn.rnn.model` and
`labrnn.rnn.engines`' numpy engine, fused into one loop per chunk of updates.

Python's per-call overhead, not arithmetic, is what bounds a 100-unit RNN in
numpy: a step is ~50 small array operations.  Here a whole chunk of updates
runs without returning to Python; the products over a whole sequence go to
BLAS (numba calls it through SciPy), the recurrences are plain loops.  The numpy engine stays the checked
reference; tests hold both to the same numbers.  Held-out scoring (`sequence_loss`) and text synthesis
(`synthesize`) are compiled here too; `compiling` says when numba compiles them instead of loading its cache.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
from numba import njit
from numba.core import event

from labrnn.rnn.limits import DIVERGE_FROM, DIVERGE_WINDOW

# Reassociation lets LLVM vectorize the dot products; NaN and inf keep their meaning.
# error_model="numpy" drops the per-division zero check that blocks vectorization.
_FAST = {"reassoc", "contract"}


_LN2_HI, _LN2_LO = 0.6931471803691238, 1.9082149292705877e-10       # ln 2 in two parts (fdlibm's)
_POW2 = 2.0 ** np.arange(-1075, 1024, dtype=np.float64)                # 2^n, from 0 (2^-1075 rounds to it)


@njit(cache=True, inline="always", fastmath={"contract"}, error_model="numpy")
def _exp(x):
    """e^x as arithmetic LLVM can vectorize: libm's exp, one call per element, was a quarter of an update.

    x = n ln 2 + r with |r| <= ln 2 / 2, e^r by its Taylor polynomial to r^13, times 2^n from a table:
    within one ulp of libm (bit-equal for ~94% of arguments); NaN stays NaN.
    """
    x = -746.0 if x < -746.0 else 709.0 if x > 709.0 else x
    n = math.floor(x * 1.4426950408889634 + 0.5)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    k = int(n) + 1075
    return p * _POW2[0 if k < 0 else 2098 if k > 2098 else k]


@njit(cache=True, inline="always")
def _tanh(a):
    """tanh through one exp: libm's tanh was a third of the forward pass. Exact to ~1e-16."""
    return 1.0 - 2.0 / (_exp(2.0 * a) + 1.0)


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _loss_and_grads(W, U, V, b, c, x, y, h0, H, dA, G, dH, dW, dU, dV, db, dc, dnext):
    """labrnn.rnn.model.loss_and_grads into preallocated arrays; H (T+1 x m), dA, dH (T x m) and G (T x K) are
    scratch, so an update allocates nothing.

    The recurrences run as loops; every product over the whole sequence is one BLAS call.
    """
    T, m, K = x.shape[0], W.shape[0], V.shape[0]
    H[0] = h0
    for t in range(T):
        for i in range(m):
            acc = b[i] + U[i, x[t]]
            for j in range(m):
                acc += W[i, j] * H[t, j]
            H[t + 1, i] = acc
        for i in range(m):                       # apart from the sums, so that the m tanh vectorize
            H[t + 1, i] = _tanh(H[t + 1, i])
    np.dot(H[1:], V.T, G)                        # o_t for every t, then dL/do_t in place
    loss = 0.0
    for t in range(T):
        top = -np.inf
        for k in range(K):
            G[t, k] += c[k]
            top = max(top, G[t, k])
        target = G[t, y[t]] - top                # log p_t[y_t] = target - log(total): finite
        total = 0.0
        for k in range(K):
            G[t, k] = _exp(G[t, k] - top)
            total += G[t, k]
        loss -= target - math.log(total)
        for k in range(K):
            G[t, k] /= total
        G[t, y[t]] -= 1.0
    np.dot(G.T, H[1:], dV)
    np.dot(G, V, dH)                             # the outputs' share of dL/dh_t
    dc[:] = 0.0
    db[:] = 0.0
    dU[:] = 0.0
    dnext[:] = 0.0
    for t in range(T - 1, -1, -1):
        for i in range(m):
            dA[t, i] = (dH[t, i] + dnext[i]) * (1.0 - H[t + 1, i] * H[t + 1, i])
        dnext[:] = 0.0
        for i in range(m):
            da = dA[t, i]
            db[i] += da
            dU[i, x[t]] += da
            for j in range(m):
                dnext[j] += da * W[i, j]
        dc += G[t]
    np.dot(dA.T, H[:-1], dW)
    return loss


@njit(cache=True, error_model="numpy")
def _adagrad(theta, grad, mem, eta, clip):
    th, g, mm = theta.ravel(), grad.ravel(), mem.ravel()
    for i in range(th.shape[0]):
        gi = min(max(g[i], -clip), clip)
        mm[i] += gi * gi
        th[i] -= eta * gi / math.sqrt(mm[i] + 1e-8)


@njit(cache=True, error_model="numpy")
def _adagrad_columns(U, dU, mem, x, seen, eta, clip):
    """`_adagrad` on the columns of U that x selects: every other column's gradient is exactly 0, which would
    leave U and mem bit for bit as they are, so its K - (distinct x) square roots and divisions are skipped.

    seen (K booleans, all False) marks the columns done; it is all False again on return.
    """
    for t in range(x.shape[0]):
        k = x[t]
        if seen[k]:
            continue
        seen[k] = True
        for i in range(U.shape[0]):
            gi = min(max(dU[i, k], -clip), clip)
            mem[i, k] += gi * gi
            U[i, k] -= eta * gi / math.sqrt(mem[i, k] + 1e-8)
    for t in range(x.shape[0]):
        seen[x[t]] = False


# A deliberate pair with engines.NumpyEngine.train (the readable loop): change both or neither.
@njit(cache=True, error_model="numpy")
def run_steps(params, mems, bests, data, state, curve, losses, first, n, seq_length, eta, clip, limit,
              ceiling):
    """The "numba" engine of `labrnn.rnn.engines`, on a TrainState's arrays (state is its vector)."""
    W, U, V, b, c = params
    m, K = W.shape[0], V.shape[0]
    H, dA, dH = np.empty((seq_length + 1, m)), np.empty((seq_length, m)), np.empty((seq_length, m))
    G = np.empty((seq_length, K))
    dW, dU, dV = np.empty_like(W), np.empty_like(U), np.empty_like(V)
    db, dc, dnext = np.empty_like(b), np.empty_like(c), np.empty(m)
    x, y = np.empty(seq_length, np.int64), np.empty(seq_length, np.int64)
    seen = np.zeros(K, np.bool_)
    h, best_h = state[6:6 + m], state[6 + m:]
    e, epoch, smooth, best, best_step, best_e = int(state[0]), state[1], state[2], state[3], state[4], state[5]
    done = 0
    for s in range(first, first + n):
        x[:] = data[e:e + seq_length]
        y[:] = data[e + 1:e + seq_length + 1]
        loss = _loss_and_grads(W, U, V, b, c, x, y, h, H, dA, G, dH, dW, dU, dV, db, dc, dnext)
        smooth = loss if s == 0 else 0.999 * smooth + 0.001 * loss
        curve[s] = smooth
        losses[s] = loss
        done += 1
        if not math.isfinite(loss) or loss > ceiling or (
                s >= DIVERGE_FROM and losses[s - DIVERGE_WINDOW + 1:s + 1].mean() > limit):
            break
        if smooth < best:
            best, best_step, best_e = smooth, s, e
            best_h[:] = h
            bests[0][:] = W
            bests[1][:] = U
            bests[2][:] = V
            bests[3][:] = b
            bests[4][:] = c
        _adagrad(W, dW, mems[0], eta, clip)
        _adagrad_columns(U, dU, mems[1], x, seen, eta, clip)
        _adagrad(V, dV, mems[2], eta, clip)
        _adagrad(b, db, mems[3], eta, clip)
        _adagrad(c, dc, mems[4], eta, clip)
        h[:] = H[seq_length]
        e += seq_length
        if e > data.shape[0] - seq_length - 1:
            e = 0
            epoch += 1
            h[:] = 0.0
    state[0], state[1], state[2], state[3], state[4], state[5] = e, epoch, smooth, best, best_step, best_e
    return done


# A deliberate pair with engines.NumpyEngine.score (labrnn.rnn.model.loss from h = 0): change both or neither.
@njit(cache=True, fastmath=_FAST, error_model="numpy")
def sequence_loss(W, U, V, b, c, x, y):
    """Summed loss of predicting y from x in one pass from h = 0 (forward only)."""
    m, K = W.shape[0], V.shape[0]
    h, a, o = np.zeros(m), np.empty(m), np.empty(K)
    loss = 0.0
    for t in range(x.shape[0]):
        for i in range(m):
            acc = b[i] + U[i, x[t]]
            for j in range(m):
                acc += W[i, j] * h[j]
            a[i] = acc
        for i in range(m):
            h[i] = _tanh(a[i])
        top = -np.inf
        for k in range(K):
            acc = c[k]
            for i in range(m):
                acc += V[k, i] * h[i]
            o[k] = acc
            top = max(top, acc)
        total = 0.0
        for k in range(K):
            total += _exp(o[k] - top)
        loss -= o[y[t]] - top - math.log(total)
    return loss


# A deliberate pair with engines.NumpyEngine.synthesize (the readable loop): change both or neither.
@njit(cache=True, error_model="numpy")
def synthesize(W, U, V, b, c, h0, x0, u, temperature, out):
    """The numpy engine's synthesize compiled: out[t] is the character whose cumulative weight first exceeds
    u[t] x the total, each fed back as the next input. Without fastmath the sums match numpy's to round-off
    (libm's tanh and exp against numpy's SIMD ones), so the same u draws the same characters unless a
    network amplifies a last-bit difference until one draw flips.
    """
    m, K = W.shape[0], V.shape[0]
    h, a, cdf = h0.copy(), np.empty(m), np.empty(K)
    x = x0
    for t in range(u.shape[0]):
        for i in range(m):
            acc = 0.0
            for j in range(m):
                acc += W[i, j] * h[j]
            a[i] = math.tanh(acc + U[i, x] + b[i])
        h[:] = a
        top = -np.inf
        for k in range(K):
            acc = 0.0
            for i in range(m):
                acc += V[k, i] * h[i]
            cdf[k] = acc + c[k]
            top = max(top, cdf[k])
        total = 0.0
        for k in range(K):
            total += math.exp((cdf[k] - top) / temperature)     # the largest first: a tiny T cannot overflow
            cdf[k] = total
        target = u[t] * total
        x = 0
        while x < K - 1 and cdf[x] <= target:       # searchsorted(cdf, target, side="right"), at most K - 1
            x += 1
        out[t] = x


COMPILE_SECONDS = 20        # compiling run_steps, synthesize and sequence_loss on the project's 2-core machine


class _Compiling(event.Listener):
    """Tells, once, that numba compiles: its "numba:compile" event starts only when its cache has no copy."""

    def __init__(self, say):
        self.say, self.happened = say, False

    def on_start(self, ev):
        if not self.happened:
            self.say(f"compiling the training kernels, once per install: ~{COMPILE_SECONDS} s")
        self.happened = True

    def on_end(self, ev):
        pass


@contextmanager
def compiling(say):
    """Within the block, say() one line if numba compiles; yields the listener (`.happened`)."""
    listener = _Compiling(say)
    with event.install_listener("numba:compile", listener):
        yield listener

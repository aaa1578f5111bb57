"""What is wrong with a student's loss_and_grads, found from its numbers alone.

Their function is set against labrnn's at three probes: the lab's start (the gradient check's parameters, h0 = 0),
the same parameters from a random h0, and weights large enough that some gradient exceeds the clip bound.  Each
known mistake is a variant of the lab's computation (a switch of labrnn.rnn.model.backward, or a transform of a
gradient: transposed, scaled, clipped), described once by its record in RECORDS; a mistake is found when their output
matches a variant, within round-off, at every probe, and the lab's does not.  What no variant explains is located: the
rows, columns and first time step where it departs.

The gradient check's network is small (grad_m), so a student's function is diagnosed again at the run's own m
(`at_run_size`), and what training compared (`labrnn.student.grading`) joins the diagnosis (`with_training`): a function
right only for small networks, or only at the start, is found out too.
"""
from __future__ import annotations

import inspect
import itertools
import math
from dataclasses import dataclass, replace

import numpy as np

from labrnn.rnn.gradcheck import GradCheck
from labrnn.rnn.model import NAMES, backward, forward, init_params
from labrnn.rnn.model import loss_and_grads as lab_loss_and_grads

TOL = 1e6 * np.finfo(float).eps     # relative to the largest entry: far above round-off, far below any mistake
SLACK = 1e2         # another order of the same sums lands within this many times what a nudge of the inputs moves
MAX_SCORE = 30.0    # the large probe's scores o_t stay below: even a softmax without the shift, exp(o), is finite
SINGLE = 1e3 * np.finfo(np.float32).eps     # ... what computing in float32 leaves; every known mistake leaves more
PROBES = {"start": "the lab's start (sigma 0.01, h0 = 0)", "h0": "the lab's start from a random h0",
          "large": "large weights (gradients beyond the clip bound)"}
RUN = "run "            # the probes again at the run's m: "run start", "run h0", "run large"
TRAINING = "training"   # what training compared: the worst of its steps
ITEMS = ("loss",) + NAMES + ("h_last",)
LOSS = "loss = sum_t -log p_t[y_t], p_t = softmax(V h_t + c)"


@dataclass(frozen=True)
class Comparison:
    """Their `name` (loss, a gradient or h_last) against the lab's at one probe."""
    probe: str
    name: str
    max_rel: float          # max |theirs - lab's| over the larger of the two's largest entries
    matches: bool


@dataclass(frozen=True)
class Finding:
    mistake: str            # one of MISTAKES
    params: tuple[str, ...]
    sentence: str
    short: str


@dataclass(frozen=True)
class Diagnosis:
    comparison: tuple[Comparison, ...]
    findings: tuple[Finding, ...]
    m: int
    seq_length: int
    seed: int
    clip: float
    run_m: int | None = None            # a student's model: the probes again at the run's m (`at_run_size`)
    training: dict | None = None        # ... and what its training compared (labrnn.student.grading.Record, as a dict)

    @property
    def ok(self) -> bool:
        return all(r.matches for r in self.comparison)

    def summary(self) -> str:
        return "correct" if self.ok else "; ".join(dict.fromkeys(f.short for f in self.findings if f.short))

    def describe(self, probe: str) -> str:
        """What the probe is, in words (the table's legend)."""
        if probe == TRAINING:
            t = self.training
            steps = ", ".join(f"{c['step']:,}" for c in t["gradient_checks"])
            return (f"the loss and h_last at every one of its {t['steps']:,} steps, the gradients at "
                    f"steps {steps} (step 0 and steps drawn from the seed), each against labrnn's on the same "
                    "parameters, data and h0; the worst of them")
        if probe.startswith(RUN):
            return f"{PROBES[probe[len(RUN):]]}, at the run's m = {self.run_m}"
        return PROBES[probe]

    def table(self) -> str:
        """The comparison (max relative difference per item and probe) and the findings, as the CLI prints them."""
        probes = list(dict.fromkeys(r.probe for r in self.comparison))
        cell = {(r.probe, r.name): r for r in self.comparison}
        lines = [f"{'':<8}" + "".join(f"{p:>16}" for p in probes)]
        for name in dict.fromkeys(r.name for r in self.comparison):
            rows = [cell[p, name] for p in probes]
            lines.append(f"{name:<8}" + "".join(f"{r.max_rel:>11.2e} {'ok' if r.matches else 'DIFF':>4}" for r in rows))
        lines += [f"  {p}: {self.describe(p)}" for p in probes]
        lines.append(f"against labrnn's reference: {'MATCHES' if self.ok else 'DIFFERS'} ({self.summary()})")
        lines += [f"- {f.sentence}" for f in self.findings]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"m": self.m, "seq_length": self.seq_length, "seed": self.seed, "clip": self.clip, "ok": self.ok,
                "summary": self.summary(), "comparison": [vars(r) for r in self.comparison],
                "findings": [dict(vars(f), params=list(f.params)) for f in self.findings],
                **({"run_m": self.run_m} if self.run_m is not None else {}),
                **({"training": self.training} if self.training is not None else {})}

    @classmethod
    def from_dict(cls, doc: dict) -> "Diagnosis":
        return cls(tuple(Comparison(r["probe"], r["name"], r["max_rel"], r["matches"]) for r in doc["comparison"]),
                   tuple(Finding(f["mistake"], tuple(f["params"]), f["sentence"], f["short"])
                         for f in doc["findings"]),
                   doc["m"], doc["seq_length"], doc["seed"], doc["clip"], doc.get("run_m"), doc.get("training"))


# ---------------------------------------------------------------------------------------------------- the variants

@dataclass(frozen=True)
class Mistake:
    """One documented mistake, the one place that knows it: every table of the diagnosis is derived from these.

    switch: (keyword, value) of labrnn.rnn.model.backward that makes it, or () for a transform of the lab's output
    (transposed, sign, factor, clipped); affects: which of "loss", "grads", "h_last" the switch changes (the
    outputs whose variants try it); factor: the named factor on the loss that is this mistake ("1/seq_length");
    sentence: what the student reads, a template of {d} (the items: dW, loss...), {is_}, {T}, {clip};
    short: the summary's few words ({few}: the items in a few words).
    """
    name: str
    sentence: str = ""
    short: str = ""
    switch: tuple = ()
    affects: frozenset = frozenset()
    factor: str = ""


ALL = frozenset({"loss", "grads", "h_last"})
RECORDS = (
    Mistake("h0_ignored", "From a random h0 your {d} {is_} the lab's from h0 = 0: your code ignores h0. Start the "
            "recurrence from h0, the state carried over from the previous sequence.", "h0 ignored",
            ("use_h0", False), ALL),
    Mistake("loss_mean", "divided by seq_length = {T}: you average -log p_t[y_t] over the sequence instead of "
            "summing it", "loss averaged", factor="1/seq_length"),
    Mistake("loss_log2", "divided by ln 2: you take log base 2; use the natural log (np.log)", "loss in log2",
            factor="1/ln 2"),
    Mistake("loss_log10", "divided by ln 10: you take log base 10; use the natural log (np.log)", "loss in log10",
            factor="1/ln 10"),
    Mistake("loss_input", "Your {d} {is_} the lab's when the input x_t is scored instead of the target y_t: "
            f"the lab's {LOSS}, with y_t the next character.", "scores x_t, not y_t", ("target", "x"),
            frozenset({"loss", "grads"})),
    Mistake("loss_raw", f"Your loss is -sum_t o_t[y_t], the raw scores without the softmax: the lab's {LOSS}.",
            "loss without softmax", ("score", "raw"), frozenset({"loss"})),
    Mistake("no_bptt", "Your {d} {is_} only each step's own contribution: the gradient through time is not carried "
            "back. Add dh_next = W^T da_(t+1) to dh_t = V^T do_t before taking da_t.", "no BPTT",
            ("carry", False), frozenset({"grads"})),
    Mistake("tanh_prev", "Your {d} {is_} the lab's with the tanh derivative taken at h_(t-1): use da_t = dh_t * "
            "(1 - h_t^2), with h_t the state step t produced.", "tanh' at t-1", ("derivative", "h_prev"),
            frozenset({"grads"})),
    Mistake("tanh_missing", "Your {d} {is_} the lab's without the tanh derivative: use da_t = dh_t * (1 - h_t^2), "
            "not da_t = dh_t.", "tanh' missing", ("derivative", "none"), frozenset({"grads"})),
    Mistake("no_onehot", "Your {d} {is_} the lab's with do_t = p_t: subtract the target, do_t = p_t - onehot(y_t), "
            "the gradient of -log p_t[y_t] with respect to o_t.", "onehot(y_t) not subtracted",
            ("subtract_onehot", False), frozenset({"grads"})),
    Mistake("transposed", "Your {d} {is_} the transpose of the lab's: dW = sum_t da_t h_(t-1)^T has the receiving "
            "unit as its row; swap the outer product's factors or drop the .T.", "{few} transposed"),
    Mistake("sign", "Your {d} {is_} minus the lab's: the loss is the negative log-likelihood and the gradients are its "
            "own (do_t = p_t - onehot(y_t)), not their negatives.", "{few} sign wrong"),
    Mistake("factor"),                          # its sentence names the factor found (_factor_sentence)
    Mistake("clipped", "Your {d} {is_} the lab's clipped to ±{clip} (seen where the lab's exceeds {clip} on large "
            "weights): you clip inside loss_and_grads. Return them unclipped; labrnn clips.", "clipped"),
)
MISTAKES = tuple(r.name for r in RECORDS) + ("precision", "unexplained", "size", "training")
_DEFAULTS = {k: p.default for k, p in inspect.signature(backward).parameters.items() if p.kind is p.KEYWORD_ONLY}
SWITCHES = {k: (v,) + tuple(r.switch[1] for r in RECORDS if r.switch[:1] == (k,)) for k, v in _DEFAULTS.items()}
ATOM = {r.switch: r.name for r in RECORDS if r.switch}
LOSS_FACTOR = {r.factor: r for r in RECORDS if r.factor}


def _switches(output: str) -> tuple[str, ...]:
    """The switches whose variants change `output` ("loss", "grads", "h_last"), in backward's order."""
    return tuple(k for k in _DEFAULTS if any(r.switch[:1] == (k,) and output in r.affects for r in RECORDS))


FORWARD, LOSS_SWITCHES, GRAD_SWITCHES = _switches("h_last"), _switches("loss"), _switches("grads")


def _bases(names):
    """Every combination of the named switches, as (atoms, keyword arguments), simplest first."""
    out = []
    for values in itertools.product(*(SWITCHES[n] for n in names)):
        kw = dict(zip(names, values))
        out.append((tuple(ATOM[k, v] for k, v in kw.items() if (k, v) in ATOM), kw))
    return sorted(out, key=lambda b: len(b[0]))


def _key(kw) -> tuple:
    """A variant's switches that differ from backward's defaults, in order: () is the lab's own computation."""
    return tuple(sorted((k, v) for k, v in kw.items() if v != _DEFAULTS[k]))


VARIANTS = tuple(dict.fromkeys(_key(kw) for names in (GRAD_SWITCHES, LOSS_SWITCHES, FORWARD)
                               for _, kw in _bases(names)))       # every computation a variant asks for, once


# ------------------------------------------------------------------------------------------------------ the probes

@dataclass(frozen=True)
class _Probe:
    """One probe (parameters and h0) and the lab's outputs there, each (loss, grads, h_last) computed once: with each
    set of backward's switches a variant tries (`lab`, keyed as VARIANTS; () is the lab's own), with every input
    moved by a few ulps (`moved`, the tolerance's yardstick), and on each prefix x[:t], t = 1, 2, ... (`prefixes`,
    where a difference starts)."""
    name: str
    params: dict
    h0: np.ndarray
    lab: dict
    moved: tuple
    prefixes: tuple


@dataclass(frozen=True)
class Probes:
    """The three probes of one network on the corpus's first seq_length + 1 characters: what `diagnose_at` sets a
    function against.  The first point is the gradient check's (labrnn.report.checks checks there)."""
    points: tuple[_Probe, ...]
    x: np.ndarray
    y: np.ndarray
    m: int
    seq_length: int
    seed: int
    clip: float


def _copy(params):
    return {k: np.array(v, dtype=float) for k, v in params.items()}


def probes(data, K: int, m: int = 5, seq_length: int = 25, seed: int = 1, clip: float = 5.0,
           sigma: float = 0.01) -> Probes:
    """The three probes, all drawn from one generator (the first is the gradient check's point), with the lab's
    outputs there computed in one pass, so that the diagnosis then only compares.  The large one stops short of the
    clip bound only where reaching it would need scores beyond MAX_SCORE (a sequence of a few characters)."""
    m, seq_length, seed, clip = int(m), int(seq_length), int(seed), float(clip)        # JSON-safe in the record
    if len(data) < seq_length + 1:
        raise ValueError(f"the corpus has {len(data)} characters; the gradient check and the diagnosis need "
                         f"seq_length + 1 = {seq_length + 1}")
    x = np.asarray(data[:seq_length], dtype=np.int64)
    y = np.asarray(data[1:seq_length + 1], dtype=np.int64)
    *nudges, h0_nudge = _nudges([(m, m), (m, K), (K, m), (m,), (K,), (m,)])     # W, U, V, b, c as init_params, h0
    rng = np.random.default_rng(seed)
    start = init_params(K, m, sigma, rng)          # the same first draws as gradcheck's
    h0 = rng.uniform(-0.9, 0.9, m)
    large = init_params(K, m, 1.0, rng)
    large["b"], large["c"] = rng.standard_normal(m), rng.standard_normal(K)
    large_h0 = rng.uniform(-0.9, 0.9, m)
    for _ in range(60):                            # doubled until some gradient entry exceeds the clip bound
        _, g, _ = lab_loss_and_grads(large, x, y, large_h0)
        H, _ = forward(large, x, large_h0)
        scores = np.abs(H[1:] @ large["V"].T + large["c"]).max()
        if max(np.abs(v).max() for v in g.values()) > clip or 2 * scores > MAX_SCORE:
            break
        large = {k: 2.0 * v for k, v in large.items()}
    points = (("start", start, np.zeros(m)), ("h0", start, h0), ("large", large, large_h0))
    return Probes(tuple(_Probe(name, params, h, {key: backward(params, x, y, h, **dict(key)) for key in VARIANTS},
                               backward({k: v * f for (k, v), f in zip(params.items(), nudges)}, x, y, h * h0_nudge),
                               tuple(backward(params, x[:t], y[:t], h) for t in range(1, seq_length)))
                        for name, params, h in points), x, y, m, seq_length, seed, clip)


def _call(fn, probe: _Probe, x, y):
    """Their (loss, grads, h_last) as floats, on copies: nothing of theirs can change a probe."""
    loss, grads, h = fn(_copy(probe.params), x.copy(), y.copy(), probe.h0.copy())
    return {"loss": np.float64(loss), **{k: np.asarray(grads[k], dtype=float) for k in NAMES},
            "h_last": np.asarray(h, dtype=float)}


def _outputs(loss, grads, h):
    return {"loss": np.float64(loss), **grads, "h_last": h}


def tolerance(params, x, y, h0, ran) -> dict[str, float]:
    """Per item, how far from the lab's outputs (`ran`: its (loss, grads, h_last) on these inputs, computed once by
    the caller) a correct function may land: TOL, or SLACK times how far the lab's own outputs move when every
    input entry moves by a few ulps, whichever is larger.  Large, saturating weights amplify round-off from step to
    step (a correct loop summing in another order differs by 1e-8 relative at m = 100); a mistake differs by far
    more than round-off, amplified or not."""
    *nudges, h0_nudge = _nudges([np.shape(v) for v in params.values()] + [np.shape(h0)])
    moved = backward({k: v * f for (k, v), f in zip(params.items(), nudges)}, x, y, h0 * h0_nudge)
    return _tolerance(_outputs(*ran), _outputs(*moved))


def _nudges(shapes) -> list[np.ndarray]:
    """Factors that move every entry of arrays of these shapes by a few ulps: the same every time (a generator of
    their own)."""
    rng = np.random.default_rng(0)
    return [1 + 4 * np.finfo(float).eps * rng.uniform(-1, 1, shape) for shape in shapes]


def _tolerance(lab, moved) -> dict[str, float]:
    return {k: max(TOL, SLACK * rel(moved[k], lab[k])) for k in ITEMS}


def rel(a, b) -> float:
    """max |a - b| over the larger of the two's largest entries (0 when both are zero): scale-free, and an entry
    near zero does not make it large."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(np.abs(a).max(), np.abs(b).max())
    return float(np.abs(a - b).max() / scale) if scale > 0 else 0.0


# --------------------------------------------------------------------------------------------------- the diagnosis

def diagnose(loss_and_grads, data, K: int, m: int = 5, seq_length: int = 25, seed: int = 1, clip: float = 5.0,
             check: GradCheck | None = None, sigma: float = 0.01) -> Diagnosis:
    """Set loss_and_grads against the lab's at the three probes and name what differs.

    data: the corpus's index array (its first seq_length + 1 characters are used); check: the gradient check
    already run on this function at the same m, seq_length and seed, whose verdicts the sentences use.
    """
    return diagnose_at(loss_and_grads, probes(data, K, m, seq_length, seed, clip, sigma), check)


def diagnose_at(loss_and_grads, at: Probes, check: GradCheck | None = None) -> Diagnosis:
    """Set loss_and_grads against the lab's outputs at the probes `at` and name what differs (check: as `diagnose`
    takes it)."""
    m, seq_length, seed, clip, x, y = at.m, at.seq_length, at.seed, at.clip, at.x, at.y
    if check is not None and (check.m, check.seq_length, check.seed) != (m, seq_length, seed):
        raise ValueError(f"the gradient check given is of m = {check.m}, seq_length = {check.seq_length}, "
                         f"seed = {check.seed}, not of m = {m}, seq_length = {seq_length}, seed = {seed}")
    theirs = [_call(loss_and_grads, p, x, y) for p in at.points]
    lab = [_outputs(*p.lab[()]) for p in at.points]
    tols = [_tolerance(mine, _outputs(*p.moved)) for p, mine in zip(at.points, lab)]
    comparison = tuple(Comparison(p.name, k, r, bool(r <= tol[k])) for p, t, l, tol in zip(at.points, theirs, lab, tols)
                       for k in ITEMS for r in [rel(t[k], l[k])])
    if all(r.matches for r in comparison):
        return Diagnosis(comparison, (), m, seq_length, seed, clip)
    single = _single_precision(comparison)
    if single:
        return Diagnosis(comparison, (single,), m, seq_length, seed, clip)

    def outputs(kw):
        return [_outputs(*p.lab[_key(kw)]) for p in at.points]

    explained = {k: _explain(k, [t[k] for t in theirs], outputs, clip, seq_length, [t[k] for t in tols])
                 for k in ITEMS}
    findings = _findings(explained, seq_length, clip, check, theirs, lab)
    unexplained = [k for k in ITEMS if explained[k] is None]
    if unexplained:
        findings += _locate(unexplained, loss_and_grads, at.points, theirs, lab, x, y, check, comparison, tols)
    order = {mistake: i for i, mistake in enumerate(MISTAKES)}
    return Diagnosis(comparison, tuple(sorted(findings, key=lambda f: order[f.mistake])), m, seq_length, seed, clip)


def at_run_size(small: Diagnosis, large: Diagnosis) -> Diagnosis:
    """The diagnosis at the gradient check's m (small), with the same probes at the run's m (large) beside it: a
    function right only for small networks matches at the first and not at the second."""
    rows = tuple(replace(r, probe=RUN + r.probe) for r in large.comparison)
    extra = ()
    if not large.ok:
        told = " ".join(f.sentence for f in large.findings)
        if small.ok:
            sentence = (f"Your function matches the reference at the gradient check's m = {small.m}, but not at "
                        f"the run's m = {large.m}, the size it trains at. At m = {large.m}: {told}")
            short = f"wrong at m = {large.m} only ({large.summary()})"
        elif large.summary() != small.summary():
            sentence, short = f"At the run's m = {large.m} it differs otherwise: {told}", \
                f"at m = {large.m}: {large.summary()}"
        else:
            sentence, short = f"At the run's m = {large.m} the same shows.", ""
        wrong = tuple(dict.fromkeys(r.name for r in large.comparison if not r.matches))
        extra = (Finding("size", wrong, sentence, short),)
    return replace(small, comparison=small.comparison + rows, findings=small.findings + extra, run_m=large.m)


def with_training(d: Diagnosis, record) -> Diagnosis:
    """d with what training compared (a labrnn.student.grading.Record; None or no step done: d as it is): a column of
    the worst differences, and a finding for each kind of difference. A finding whose item already differed
    before training adds its sentence only, not its few words."""
    if record is None or record.steps == 0:
        return d
    checks = record.gradient_checks
    worst = {k: max((c["max_rel"][k] for c in checks), default=0.0) for k in NAMES}
    held = {k: all(c["max_rel"][k] <= c["tolerance"][k] for c in checks) for k in NAMES}
    rows = (Comparison(TRAINING, "loss", record.their_loss.max_rel, record.their_loss.differing_steps == 0),
            *(Comparison(TRAINING, k, worst[k], held[k]) for k in NAMES),
            Comparison(TRAINING, "h_last", record.their_h_last.max_rel, record.their_h_last.differing_steps == 0))
    before = {k: all(r.matches for r in d.comparison if r.name == k) for k in ITEMS}
    found = []
    for name, seen in (("loss", record.their_loss), ("h_last", record.their_h_last)):
        if seen.differing_steps:
            found.append(_differed(name, seen, record.steps, before[name]))
    failing = [c for c in checks if not c["matches"]]
    if failing:
        names = [k for k in NAMES if not held[k]]
        right = [f"{c['step']:,}" for c in checks if c["matches"] and c["step"] < failing[0]["step"]]
        new = all(before[k] for k in names)
        sentence = (f"At {len(failing)} of the {len(checks)} training steps where labrnn set your gradients against "
                    "its reference on the same parameters, data and h0 (step 0 and steps drawn from the seed), "
                    "they differ: " + ", ".join(f"d{k} by up to {worst[k]:.1e}" for k in names) +
                    f", first at step {failing[0]['step']:,}.")
        if new:
            sentence += (" They matched before training" + (f" and at steps {', '.join(right)}" if right else "") +
                         ": a function must be right at every step of the run, not only at the first ones.")
        how = failing[0].get("explained")
        if how:
            sentence += f" At step {failing[0]['step']:,} they are the lab's gradients with a known mistake: {how}."
        short = f"{_few(names)} wrong at training step {failing[0]['step']:,}" + (f" ({how})" if how else "")
        found.append(Finding("training", tuple(names), sentence, short if new else ""))
    return replace(d, comparison=d.comparison + rows, findings=d.findings + tuple(found),
                   training=record.to_dict())


def explain(theirs: dict, params, x, y, h0, clip: float) -> str:
    """What known mistakes give their outputs (loss, grads by name, h_last) on one set of parameters, such as a
    training step's, in a few words ("no BPTT"); "" when none does."""
    x, y, h0 = np.asarray(x), np.asarray(y), np.asarray(h0, dtype=float)
    variants: dict = {}

    def outputs(kw):
        if _key(kw) not in variants:
            variants[_key(kw)] = [_outputs(*backward(params, x, y, h0, **kw))]
        return variants[_key(kw)]

    ran = backward(params, x, y, h0)
    mine = _outputs(*ran)
    theirs = {k: np.float64(theirs[k]) if k == "loss" else np.asarray(theirs[k], dtype=float) for k in ITEMS}
    tol = tolerance(params, x, y, h0, ran)
    explained = {k: _explain(k, [theirs[k]], outputs, clip, len(x), [tol[k]]) for k in ITEMS}
    return "; ".join(dict.fromkeys(f.short for f in _findings(explained, len(x), clip, None, [theirs], [mine])))


def _differed(name: str, seen, steps: int, new: bool) -> Finding:
    """Their loss or h_last in training, where it differed from labrnn's forward pass."""
    at = f"at {seen.differing_steps:,} of {steps:,} steps (first at step {seen.first_step:,}"
    if name == "loss":
        sentence = (f"During training your loss differed from labrnn's forward pass on the same parameters, data "
                    f"and h0 {at}: {seen.first_theirs:.6g} against {seen.first_ours:.6g}; up to "
                    f"{seen.max_rel:.1e} relative). Every loss this report shows and ranks (the smooth loss, its "
                    "minimum, the held-out loss) is labrnn's, from that forward pass on the parameters your "
                    "gradients trained; yours is only compared.")
    else:
        sentence = (f"During training your h_last differed from the hidden state labrnn's forward pass reaches {at},"
                    f" up to {seen.max_rel:.1e} relative); the state carried on to the next sequence is labrnn's.")
    short = f"{name} differs in training ({seen.differing_steps:,} of {steps:,} steps)" if new else ""
    return Finding("training", (name,), sentence, short)


def _single_precision(comparison) -> Finding | None:
    """Everything off, and by no more than float32 leaves: no mistake, the wrong precision."""
    worst = max(r.max_rel for r in comparison)
    if worst > SINGLE or not all(any(not r.matches for r in comparison if r.name == k) for k in ITEMS):
        return None
    return Finding("precision", ITEMS, f"Everything you return agrees with the lab's only to {worst:.0e}, the "
                   "round-off of single precision: compute in float64 (np.float64 arrays), not float32.",
                   "float32 round-off")


def _explain(name, theirs, outputs, clip, T, tols):
    """The simplest tuple of atoms ("no_bptt", "transposed", ("factor", s), ...) whose variant matches their
    `name` at every probe, within that probe's tolerance (tols): () when the lab's does, None when none does."""
    switches = LOSS_SWITCHES if name == "loss" else FORWARD if name == "h_last" else GRAD_SWITCHES
    best = None
    for atoms, kw in _bases(switches):
        base = [o[name] for o in outputs(kw)]
        square = name in NAMES and base[0].ndim == 2 and base[0].shape[0] == base[0].shape[1]
        for transposed in (False, True) if square else (False,):
            b = [v.T for v in base] if transposed else base
            extra = _transform(theirs, b, clip if name in NAMES else None, T, name != "h_last", tols)
            if extra is not None:
                found = atoms + (("transposed",) if transposed else ()) + extra
                if best is None or len(found) < len(best):
                    best = found
        if best == ():
            return best
    return best


def _transform(theirs, base, clip, T, scaled, tols):
    """The atoms of the transform that gives theirs from base at every probe (() for none; a constant factor
    fitted to all probes at once, then clipping at ±clip unless clip is None), or None."""
    if all(rel(t, b) <= tol for t, b, tol in zip(theirs, base, tols)):
        return ()
    if not scaled:
        return None
    t, b = np.concatenate([np.ravel(v) for v in theirs]), np.concatenate([np.ravel(v) for v in base])
    free = np.abs(t) < (np.inf if clip is None else clip * (1 - 1e-9))     # entries theirs did not clip
    if not free.any():
        free = np.ones_like(free)
    denominator = b[free] @ b[free]
    if denominator == 0:
        return None
    s = float(t[free] @ b[free] / denominator)
    if abs(s) <= TOL:                                  # a zero gradient is no scaled copy of the lab's
        return None
    s, label = _named(s, T)
    atoms = (() if label == "1" else ("sign",) if label == "-1" else
             (("sign",) if s < 0 else ()) + (("factor", (abs(s), label.lstrip("-"))),))
    if atoms and all(rel(tv, s * bv) <= tol for tv, bv, tol in zip(theirs, base, tols)):
        return atoms
    if clip is not None and any(np.abs(s * bv).max() > clip for bv in base) and \
            all(rel(tv, np.clip(s * bv, -clip, clip)) <= tol for tv, bv, tol in zip(theirs, base, tols)):
        return atoms + ("clipped",)
    return None


def _named(s, T):
    """s snapped to the constant it is within round-off, with its name: "1/seq_length", "2", "1/ln 2", ..."""
    known = [(1.0, "1"), (1.0 / T, "1/seq_length"), (float(T), "seq_length"), (2.0, "2"), (0.5, "1/2"),
             (1 / math.log(2), "1/ln 2"), (1 / math.log(10), "1/ln 10")]        # the first that fits names it
    for value, label in known:
        if abs(abs(s) - value) <= 1e3 * TOL * value:
            return math.copysign(value, s), ("-" if s < 0 else "") + label
    return s, f"{s:.6g}"


# ---------------------------------------------------------------------------------------------------- the sentences

def _d(names):
    """dW, dU and db: gradients in the lab's notation, loss and h_last as they are."""
    shown = [n if n in ("loss", "h_last") else f"d{n}" for n in names]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def _is(names):
    return "is" if len(names) == 1 else "are"


def _findings(explained, T, clip, check, theirs, lab) -> list[Finding]:
    """One finding per mistake, naming every parameter it shows in."""
    groups: dict = {}
    for name in ITEMS:
        for atom in explained[name] or ():
            groups.setdefault(atom, []).append(name)
    loss_factor = next((a for a in explained["loss"] or () if a[0] == "factor" and a[1][1] in LOSS_FACTOR), None)
    out = []
    for atom, names in groups.items():
        if atom[0] == "factor":
            (value, label) = atom[1]
            if atom == loss_factor:
                out.append(_loss_factor(LOSS_FACTOR[label], names, T, check, theirs, lab))
                continue
            sentence = _factor_sentence(names, value, label, T)
            if "loss" in names:
                sentence += f" The lab's {LOSS}." + _check_note(check, theirs, lab)
            out.append(Finding("factor", tuple(names), sentence,
                               f"{_few(names)} × {label}"))
        else:
            sentence, short = _SENTENCES[atom](names, T, clip)
            if "loss" in names:
                sentence += _check_note(check, theirs, lab)
            out.append(Finding(atom, tuple(names), sentence, short))
    return out


def _factor_sentence(names, value, label, T):
    what = {"1/seq_length": f"divided by seq_length = {T}: you average over the sequence. The lab's loss is the "
                            "sum over the sequence, so its gradients are sums too; drop the division",
            "seq_length": f"multiplied by seq_length = {T}: drop that factor",
            "2": "times 2: drop the factor 2 (the lab's loss has no square and no 1/2)",
            "1/2": "times 1/2: drop the factor 1/2 (the lab's loss has no square)"}.get(
        label, f"times {value:.6g}: find the constant your code multiplies by and remove it")
    return f"Your {_d(names)} {_is(names)} the lab's {what}."


def _loss_factor(mistake: Mistake, names, T, check, theirs, lab):
    text, short = mistake.sentence.format(T=T), mistake.short
    grads = [n for n in names if n in NAMES]
    sentence = f"Your loss is the lab's {text}. The lab's is {LOSS}."
    if grads:
        sentence += f" Your {_d(grads)} {_is(grads)} scaled the same way; they follow once the loss is fixed."
    return Finding(mistake.name, tuple(names), sentence + _check_note(check, theirs, lab), short)


def _check_note(check, theirs, lab):
    """What the gradient check adds to a finding about the loss: whether back-propagation is the problem."""
    if check is None or rel(theirs[0]["loss"], lab[0]["loss"]) <= TOL:
        return ""
    if check.passed:
        return (" Your gradient check passes, so your gradients are right for the loss you compute: "
                "change the loss, not back-propagation.")
    if all(rel(theirs[0][k], lab[0][k]) <= TOL for k in NAMES):
        return (" Your gradients are the lab's, so your gradient check fails only because your loss is not: "
                "fix the loss and it passes.")
    return ""


def _few(names) -> str:
    """The parameters in a few words: "dW", "loss, dW", or "gradients"."""
    return ", ".join(n if n in ("loss", "h_last") else f"d{n}" for n in names) if len(names) <= 2 else "gradients"


def _sentence(template, short):
    return lambda names, T, clip: (template.format(d=_d(names), is_=_is(names), T=T, clip=f"{clip:g}"),
                                   short.format(few=_few(names)))


_SENTENCES = {r.name: _sentence(r.sentence, r.short) for r in RECORDS if r.sentence and not r.factor}


# ------------------------------------------------------------------------------------------ where no variant fits

def _locate(names, fn, points, theirs, lab, x, y, check, comparison, tols) -> list[Finding]:
    """For each name no variant explains: where it differs (rows, columns: over every probe) and the first time
    step from which it does (the sequence cut to its first t characters, at every probe where it fails)."""
    bad = {(r.probe, r.name): r.max_rel for r in comparison if not r.matches}
    forward_right = all((p.name, k) not in bad for p in points for k in ("loss", "h_last"))
    failing = {k: [i for i, p in enumerate(points) if (p.name, k) in bad] for k in names}
    first = {k: len(x) for k in names}
    for i in sorted({i for k in names for i in failing[k]}):
        wanted = [k for k in names if i in failing[k]]
        for t in range(1, len(x)):
            wanted = [k for k in wanted if first[k] > t]
            if not wanted:
                break
            mine = _outputs(*points[i].prefixes[t - 1])
            yours = _call(fn, points[i], x[:t], y[:t])
            for k in wanted:
                if rel(yours[k], mine[k]) > tols[i][k]:
                    first[k] = t
    out = []
    for k in [k for k in ("loss", "h_last") if k in names]:
        i = max(failing[k], key=lambda i: bad[points[i].name, k])
        if k == "loss":
            sentence = (f"Your loss differs from the lab's by {bad[points[i].name, k]:.1e} relative "
                        f"({float(theirs[i]['loss']):.6g} against "
                        f"{float(lab[i]['loss']):.6g} at {PROBES[points[i].name]}), {_when(first[k])}. "
                        f"The lab's {LOSS}." + _check_note(check, theirs, lab))
        else:
            sentence = (f"Your h_last differs from the lab's, {_when(first[k])}: return the last hidden state "
                        "h_T = tanh(W h_(T-1) + U x_T + b).")
        out.append(Finding("unexplained", (k,), sentence, f"{k} wrong" + _from(first[k])))
    grads = [k for k in names if k in NAMES]
    for t in sorted({first[k] for k in grads}):        # one finding per first time step
        group = [k for k in grads if first[k] == t]
        wheres = {k: _where(k, [theirs[i][k] for i in failing[k]], [lab[i][k] for i in failing[k]],
                            [tols[i][k] for i in failing[k]]) for k in group}
        failed = [k for k in group if check is not None and not next(r.passed for r in check.rows if r.name == k)]
        if len(group) == 1:
            sentence = f"Your d{group[0]} differs from the lab's {wheres[group[0]][0]}, {_when(t)}."
        else:
            sentence = (f"Your {_d(group)} differ from the lab's, {_when(t)}: "
                        + "; ".join(f"d{k} {wheres[k][0]}" for k in group) + ".")
        if forward_right:
            sentence += (" Your loss and h_last are the lab's, so the forward pass is right: the error is in "
                         "back-propagation.")
        if failed:
            sentence += f" {_d(failed)} {'fails' if len(failed) == 1 else 'fail'} your gradient check."
        short = ", ".join(f"d{k}" + (f" {wheres[k][1]}" if wheres[k][1] and len(group) == 1 else "") for k in group) \
            + " wrong" + _from(t)
        out.append(Finding("unexplained", tuple(group), sentence, short))
    return out


def _when(t) -> str:
    return ("from the first time step on" if t == 1 else
            f"right on sequences of up to {t - 1} character{'s' * (t > 2)}, wrong from time step t = {t - 1} on "
            "(counting from 0)")


def _from(t) -> str:
    return f" from t = {t - 1}" if t > 1 else ""


def _where(k, theirs, lab, tols) -> tuple[str, str]:
    """Where their gradient k differs, over the probes given: the rows and columns (entries of a vector) in
    words, and in a few words when it is one row, column or entry ("" otherwise)."""
    wrong = np.zeros(np.shape(lab[0]), dtype=bool)
    for t, l, tol in zip(theirs, lab, tols):
        wrong |= np.abs(t - l) > tol * max(np.abs(t).max(), np.abs(l).max())
    zero = ", where yours is zero" if not any(t[wrong].any() for t in theirs) else ""
    worst = max(zip(theirs, lab), key=lambda tl: rel(*tl))
    top = ", ".join(map(str, np.unravel_index(np.abs(worst[0] - worst[1]).argmax(), wrong.shape)))
    if wrong.ndim == 1:
        idx = np.flatnonzero(wrong)
        if idx.size == wrong.size:
            return f"in every entry, most at d{k}[{top}]{zero}", ""
        return f"only in {_list('entry', 'entries', idx)}{zero}", _list("entry", "entries", idx) * (idx.size == 1)
    rows, cols = np.flatnonzero(wrong.any(axis=1)), np.flatnonzero(wrong.any(axis=0))
    if rows.size == wrong.shape[0] and cols.size == wrong.shape[1]:
        return f"in every row and column, most at d{k}[{top}]{zero}", ""
    if rows.size < wrong.shape[0] and cols.size == wrong.shape[1]:
        one = rows.size == 1
        return (f"only in {_list('row', 'rows', rows)}" + f", d{k}[{rows[0]}, :]" * one + zero,
                _list("row", "rows", rows) * one)
    if cols.size < wrong.shape[1] and rows.size == wrong.shape[0]:
        one = cols.size == 1
        return (f"only in {_list('column', 'columns', cols)}" + f", d{k}[:, {cols[0]}]" * one + zero,
                _list("column", "columns", cols) * one)
    return f"only in {_list('row', 'rows', rows)} and {_list('column', 'columns', cols)}{zero}", ""


def _list(one, many, idx) -> str:
    shown = ", ".join(map(str, idx[:4])) + (f" and {idx.size - 4} more" if idx.size > 4 else "")
    return f"{one} {shown}" if idx.size == 1 else f"{many} {shown}"

"""Identical code, grouped (labrnn.student.similar): copies that differ in comments, docstrings, layout and names group;
honest files that follow the same equations in the same order, written otherwise, do not; neither do files that
do not parse or hold little beyond the new-model starter."""
import builtins
import keyword
import string
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from labrnn.student import similar
from labrnn.student.similar import MIN_OWN

pytestmark = pytest.mark.fast

# A correct loop, its names as placeholders: a copy renames them.
LOOP = string.Template('''\
"""My RNN."""
import numpy as np


def ${helper}(${o}):
    ${e} = np.exp(${o} - ${o}.max())
    return ${e} / ${e}.sum()


def loss_and_grads(${params}, ${x}, ${y}, ${h0}):
    """Forward, then back-propagation through time."""
    ${W}, ${U}, ${V}, ${b}, ${c} = (${params}[k] for k in "WUVbc")
    ${hs}, ${ps}, ${loss} = [${h0}], [], 0.0
    for ${t} in range(len(${x})):
        ${h} = np.tanh(${W} @ ${hs}[-1] + ${U}[:, ${x}[${t}]] + ${b})
        ${p} = ${helper}(${V} @ ${h} + ${c})
        ${hs}.append(${h})
        ${ps}.append(${p})
        ${loss} -= np.log(${p}[${y}[${t}]])
    ${dW}, ${dU}, ${dV} = np.zeros_like(${W}), np.zeros_like(${U}), np.zeros_like(${V})
    ${db}, ${dc}, ${dnext} = np.zeros_like(${b}), np.zeros_like(${c}), np.zeros_like(${h0})
    for ${t} in reversed(range(len(${x}))):
        ${g} = ${ps}[${t}].copy()
        ${g}[${y}[${t}]] -= 1.0
        ${dV} += np.outer(${g}, ${hs}[${t} + 1])
        ${dc} += ${g}
        ${da} = (${V}.T @ ${g} + ${dnext}) * (1.0 - ${hs}[${t} + 1] ** 2)
        ${dW} += np.outer(${da}, ${hs}[${t}])
        ${dU}[:, ${x}[${t}]] += ${da}
        ${db} += ${da}
        ${dnext} = ${W}.T @ ${da}
    return float(${loss}), {"W": ${dW}, "U": ${dU}, "V": ${dV}, "b": ${db}, "c": ${dc}}, ${hs}[-1]
''')
PLACES = sorted({m.group("braced") for m in LOOP.pattern.finditer(LOOP.template) if m.group("braced")})
ORIGINAL = LOOP.substitute({n: n for n in PLACES}).encode()

# The same equations in the same order, written by someone else: other expressions, a while loop, no helper.
OTHER = b'''\
import numpy as np


def loss_and_grads(params, x, y, h0):
    W, U, V, b, c = params["W"], params["U"], params["V"], params["b"], params["c"]
    T = len(x)
    hs, ps, loss = [h0], [], 0.0
    t = 0
    while t < T:
        h = np.tanh(np.dot(W, hs[t]) + U[:, x[t]] + b)
        o = np.dot(V, h) + c
        p = np.exp(o - np.max(o)) / np.sum(np.exp(o - np.max(o)))
        hs.append(h)
        ps.append(p)
        loss = loss - np.log(p[y[t]])
        t += 1
    dW, dU, dV = np.zeros_like(W), np.zeros_like(U), np.zeros_like(V)
    db, dc, dnext = np.zeros_like(b), np.zeros_like(c), np.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        g = ps[t] - np.eye(len(c))[y[t]]
        dV = dV + np.outer(g, hs[t + 1])
        dc = dc + g
        da = (np.dot(V.T, g) + dnext) * (1 - hs[t + 1] * hs[t + 1])
        dW = dW + np.outer(da, hs[t])
        dU[:, x[t]] = dU[:, x[t]] + da
        db = db + da
        dnext = np.dot(W.T, da)
    return float(loss), {"W": dW, "U": dU, "V": dV, "b": db, "c": dc}, hs[T]
'''

RESERVED = set(dir(builtins)) | set(keyword.kwlist) | set(keyword.softkwlist) | {"np", "k", "loss_and_grads"}
IDENT = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True).filter(lambda s: s not in RESERVED)
COMMENT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=30)


def _copy(names: list[str], comments: list[tuple[int, str, bool]]) -> bytes:
    """The loop with its names replaced and comments added: whole lines, or at the end of code lines."""
    lines = LOOP.substitute(dict(zip(PLACES, names))).splitlines()
    for at, text, trailing in sorted(comments, reverse=True):
        at = 2 + at % (len(lines) - 2)          # below line 2: a comment there could be an encoding declaration
        if trailing and lines[at].strip():
            lines[at] += f"  # {text}"
        else:
            lines.insert(at, f"# {text}" if text else "")
    return ("\n".join(lines) + "\n").encode()


@settings(max_examples=60, deadline=None)
@given(st.lists(IDENT, min_size=len(PLACES), max_size=len(PLACES), unique=True),
       st.lists(st.tuples(st.integers(0, 100), COMMENT, st.booleans()), max_size=8))
def test_renamed_and_commented_copy_groups_with_its_original(names, comments):
    copy = _copy(names, comments)
    assert similar.groups({"a.py": ORIGINAL, "b.py": copy, "other.py": OTHER}) == [["a.py", "b.py"]]


def test_layout_docstrings_and_parentheses_are_set_aside():
    squeezed = (ORIGINAL.replace(b'"""My RNN."""\n', b"").replace(b'    """Forward, then back-propagation through '
                                                                  b'time."""\n', b'    "a note"\n')
                .replace(b"\n\n\n", b"\n").replace(b"(1.0 - hs[t + 1] ** 2)", b"(\n        (1.0 - (hs[t + 1] ** 2)))"))
    assert squeezed != ORIGINAL
    assert similar.groups({"a.py": ORIGINAL, "b.py": squeezed}) == [["a.py", "b.py"]]


@pytest.mark.parametrize("change", [
    (b"p[y[t]]", b"p[x[t]]"),                                    # another index: another program
    (b"(1.0 - hs[t + 1] ** 2)", b"(1.0 - hs[t] ** 2)"),          # tanh' at t-1
    (b"        dnext = W.T @ da\n", b""),                        # no BPTT
    (b"1.0 - ", b"1 - "),                                        # a constant written otherwise
])
def test_a_changed_statement_does_not_group(change):
    changed = ORIGINAL.replace(*change)
    assert changed != ORIGINAL
    assert similar.groups({"a.py": ORIGINAL, "b.py": changed}) == []


def test_honest_files_in_other_styles_do_not_group():
    assert similar.fingerprint(OTHER) is not None and similar.fingerprint(ORIGINAL) is not None
    assert similar.groups({"a.py": ORIGINAL, "b.py": OTHER}) == []


def test_names_are_renamed_scope_by_scope_not_merged():
    """A local of one function and a global of the same name are two variables: renaming one of them, in a copy,
    is another program only when it makes them one."""
    one = ORIGINAL.replace(b"import numpy as np\n", b"import numpy as np\ne = 1.0\n")
    two = one.replace(b"e = 1.0", b"scale = 1.0")                # the global renamed, the helper's e kept
    merged = one.replace(b"def helper(o):", b"def helper(o):\n    global e")
    assert similar.groups({"one.py": one, "two.py": two, "merged.py": merged}) == [["one.py", "two.py"]]


def test_unparsable_files_and_starters_never_group():
    starter = similar.STARTER.read_bytes()
    filled = starter.replace(b"    raise NotImplementedError", b"    return 0.0, {}, h0\n    raise NotImplementedError")
    sources = {"syntax1.py": b"def f(:\n", "syntax2.py": b"def f(:\n", "nul1.py": b"x = 1\0", "nul2.py": b"x = 1\0",
               "starter1.py": starter, "starter2.py": starter + b"\n# done?\n",
               "short1.py": filled, "short2.py": filled.replace(b"h0\n", b"h0  # ok\n")}
    assert similar.groups(sources) == []


def test_starter_lines_do_not_count():
    """The starter's raise left below a solution, or its import dropped, is still the same code."""
    leftover = ORIGINAL + b'    raise NotImplementedError("write the forward pass (a_t, h_t, o_t, p_t, loss) and ' \
                          b'back-propagation "\n                              "through time, then return loss, ' \
                          b'grads, h_last")\n'
    assert similar.fingerprint(leftover) == similar.fingerprint(ORIGINAL)
    assert similar.groups({"a.py": ORIGINAL, "b.py": leftover}) == [["a.py", "b.py"]]


def test_groups_are_sorted_and_only_of_two_or_more():
    copy = _copy([f"n{i}" for i in range(len(PLACES))], [])
    sources = {"z.py": ORIGINAL, "m.py": copy, "a.py": OTHER, "b.py": OTHER, "alone.py": b"print(1)\n" * 6}
    assert similar.groups(sources) == [["a.py", "b.py"], ["m.py", "z.py"]]


@pytest.mark.parametrize("deep", [b"x = " + b"-" * 200_000 + b"1\n",        # MemoryError in the parser
                                  b"x = " + b"(" * 300 + b")" * 300 + b"\n",   # SyntaxError: too many parentheses
                                  b"x = " + b"not " * 5_000 + b"1\n",           # parses; too deep to compare
                                  b"\xff\xfe = 1\n"])                          # no UTF-8
def test_hostile_sources_are_not_grouped_and_do_not_crash(deep):
    """Without the deep line these two files would group: it alone keeps them apart, and raises nothing."""
    rest = b"".join(b"y%d = %d\n" % (i, i) for i in range(MIN_OWN))
    assert similar.groups({"a.py": rest, "b.py": rest}) == [["a.py", "b.py"]]
    assert similar.groups({"a.py": deep + rest, "b.py": deep + rest}) == []


def test_parsing_prints_nothing_of_theirs():
    """An invalid escape sequence is a SyntaxWarning, whose text is theirs (here an ESC): Python prints it on
    stderr, raw, unless told not to (in a process of its own: pytest would capture the warning itself)."""
    source = ORIGINAL.replace(b"import numpy as np\n", b'import numpy as np\nNOTE = "\\\x1b[2J"\n')
    code = "import sys; from labrnn.student import similar; print(similar.fingerprint(sys.stdin.buffer.read()) is not None)"
    done = subprocess.run([sys.executable, "-W", "default", "-c", code], input=source, capture_output=True,
                          timeout=60)
    assert (done.stdout, done.stderr) == (b"True\n", b"")

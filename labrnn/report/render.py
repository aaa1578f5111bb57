"""How a run is shown in a notebook and in the exported report.

Generated text is data, never markup: every piece of it goes through
`escape`, which has one rule per output format, and control characters other
than newline and tab become visible escapes (``\\x07``) instead of vanishing
or corrupting the page.  Each display object carries a mime bundle: text/html
for the report and JupyterLab, text/latex for report.pdf (nbconvert's LaTeX
exporter prefers it, so it never sees HTML), text/plain for terminals and nbval.

The markup is in templates/displays: macros of the autoescaping HTML environment
and of the LaTeX one, whose every value is LaTeX-escaped unless it is Markup
(here: LaTeX already).  `HTML` and `LATEX` are the package's only Jinja
environments: the comparison page and the index render through `HTML` too.  This module keeps the words and numbers, the
plain text, and what templates cannot do: escaping and marking generated text.
"""
from __future__ import annotations

import base64
import os
import re
from datetime import datetime
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from labrnn.layout import TEMPLATES
from labrnn.report.public import public
from labrnn.settings import table_rows

CONTROL = re.compile(r"([\x00-\x08\x0b-\x1f\x7f-\x9f])")      # a group: CONTROL.split keeps them
_CTL_HTML = Markup('<span class="ctl" title="control character U+{:04X}">{}</span>')


def visible(ch: str) -> str:
    """The visible stand-in for a control character."""
    return f"\\x{ord(ch):02x}"


# The LaTeX that escaped text relies on, defined where it is used (\providecommand: once per document), so a
# notebook's text/latex also compiles with nbconvert's stock template.  A character the current font lacks is
# shown as its code point in a box instead of vanishing (xelatex would only log it).  \labrnnneed{h} starts a
# new page when less than h is left on this one (needspace's \Needspace, without the package): a heading never
# ends a page.
LATEX_MACROS = (
    r'\providecommand{\labrnnchar}[1]{\iffontchar\font"#1 \char"#1 \else\labrnnmissing{#1}\fi}'
    r"\providecommand{\labrnnmissing}[1]{\fbox{\scriptsize U+#1}\allowbreak}"
    r"\providecommand{\labrnnctl}[1]{\textcolor[rgb]{0.64,0.05,0.15}{\textbackslash x#1}}"
    r"\providecommand{\labrnnneed}[1]{\par\penalty-100\begingroup\dimen0=#1\relax\dimen2=\pagegoal"   # needspace's
    r"\advance\dimen2 by -\pagetotal\ifdim\dimen0>\dimen2 \ifdim\dimen2>0pt\vfil\fi\penalty-10000\fi\endgroup}"
    "\n")
_LATEX = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "%": r"\%", "#": r"\#", "&": r"\&",
          "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}", "'": r"\textquotesingle{}",
          "`": r"\textasciigrave{}", "-": "-{}", "/": r"/\allowbreak{}"}   # -{}: no -- ligature


def _latex_char(ch: str) -> str:
    if ch in _LATEX:
        return _LATEX[ch]
    if CONTROL.match(ch):
        return rf"\labrnnctl{{{ord(ch):02x}}}"
    return ch if ord(ch) < 0x7f or ch in "\n\t" else rf"\labrnnchar{{{ord(ch):X}}}"


def escape(text: str, fmt: str = "html") -> str:
    """Text made safe for `fmt` ("html", "latex" or "plain"), control characters made visible.

    HTML and LaTeX come back as Markup, so the templates print them as they are."""
    if fmt == "latex":
        return Markup("".join(map(_latex_char, text)))
    if fmt == "plain":
        return CONTROL.sub(lambda m: visible(m.group()), text)
    if fmt == "html":
        return Markup().join(_CTL_HTML.format(ord(p), visible(p)) if CONTROL.fullmatch(p) else p
                             for p in CONTROL.split(text))
    raise ValueError(f"unknown format {fmt!r}")


def marked(text: str, spans: list[list[int]], fmt: str = "html") -> str:
    """The text escaped for `fmt`, with the corpus words at `spans` marked (bold in HTML and LaTeX)."""
    if fmt == "plain":
        return escape(text, "plain")
    bold = r"\textbf{{{}}}" if fmt == "latex" else '<b class="word">{}</b>'
    pieces, last = [], 0
    for start, end in spans:
        pieces.append(escape(text[last:start], fmt))
        pieces.append(bold.format(escape(text[start:end], fmt)))
        last = end
    pieces.append(escape(text[last:], fmt))
    return Markup("".join(pieces))


def scientific(x: float, digits: int = 2) -> tuple[str, str]:
    """The mantissa and the power of ten of `x`, with true minus signs: 1.23e-06 -> ("1.23", "−6")."""
    mantissa, exp = f"{x:.{digits}e}".split("e")
    return mantissa.replace("-", "−"), str(int(exp)).replace("-", "−")


_LATEX_SYNTAX = {"block_start_string": "((*", "block_end_string": "*))", "variable_start_string": "(((",
                 "variable_end_string": ")))", "comment_start_string": "((=", "comment_end_string": "=))"}


def _environment(fmt: str, **syntax) -> jinja2.Environment:
    """The one Jinja environment of an output format, over templates/: the displays' macros, the comparison
    page and the index all render through it.

    Every value a template prints goes through `escape` for `fmt` unless it is Markup already (a macro's
    output, `escape`'s or `marked`'s); autoescape then leaves it alone, so LaTeX never gets HTML escaping.
    The `plain` filter gives text for an HTML attribute: control characters as visible escapes, no markup."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined,
                             finalize=lambda value: value if isinstance(value, Markup) else escape(str(value), fmt),
                             **syntax)
    env.globals.update(marked=marked, scientific=scientific)
    env.filters["plain"] = lambda value: escape(str(value), "plain")
    return env


HTML = _environment("html")
LATEX = _environment("latex", **_LATEX_SYNTAX)
_html = HTML.get_template("displays/displays.html.j2").module     # the macros, callable from Python (Markup)
_tex = LATEX.get_template("displays/displays.tex.j2").module


def href(*parts: str) -> str:
    """A relative URL to a file below the page: every part percent-encoded, so no name is read as a scheme
    (javascript:), a fragment (#) or a query (?), and "./" first."""
    return "./" + "/".join(quote(os.fsencode(p), safe="") for p in parts)


class Display:
    """A mime bundle the notebook shows (html), report.pdf typesets (latex) and nbval compares (plain).

    Without an explicit `latex`, the PDF shows the plain text, escaped, in a monospace block.
    """

    def __init__(self, html_: str, plain: str, png: bytes | None = None, latex: str | None = None):
        latex = latex if latex is not None else _tex.verbatim(escape(plain, "latex"))
        self.html, self.plain, self.png = str(html_), plain, png
        self.latex = LATEX_MACROS + str(latex)       # str(): Markup would HTML-escape the macros it is added to

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/html": self.html, "text/latex": self.latex, "text/plain": self.plain}
        if self.png is not None:
            bundle["image/png"] = base64.b64encode(self.png).decode("ascii")
        return bundle

    def __repr__(self) -> str:
        return self.plain


def _both(macro: str, *args) -> dict:
    """The html_ and latex of a Display, from the macro of that name in each template."""
    return {"html_": getattr(_html, macro)(*args), "latex": getattr(_tex, macro)(*args)}


def number(x: float, digits: int = 2, fmt: str = "html") -> str:
    """1.23×10⁻⁶ in HTML, readable offline without MathJax (or in LaTeX, in text mode like the rest)."""
    return (_tex if fmt == "latex" else _html).number(x, digits)


MODEL_NOTE = ("Its loss_and_grads, run in a process of its own, gave the gradients of every training step (clipped "
              "and applied by labrnn's AdaGrad). Every loss shown and ranked (the smooth loss, its minimum, the "
              "held-out loss), the hidden state carried from one sequence to the next and the samples come from "
              "labrnn's forward pass on the parameters it trained; the loss and h_last it returned are only "
              "compared with them (Table 1b).")


def _degenerate(run, kind: str | None = None) -> list:
    """The run's degenerate outcomes (labrnn.report.degenerate), of one kind or all."""
    from labrnn.report.degenerate import findings
    return [f for f in findings(run) if kind is None or f.kind == kind]


def _warned(caption: str, run, kind: str) -> str:
    """A figure's caption with what is degenerate in it, where it shows."""
    return " ".join([caption, *(f"Warning: {f.sentence}" for f in _degenerate(run, kind))])


def _files(run) -> dict[str, str]:
    """The run's files by absolute path, and the names a shared report gives them."""
    return {f["path"]: f["name"] for f in (run.model, run.corpus) if f and f.get("path")}


def title_block(run, trained_at: str, check=None, diagnosis=None) -> Display:
    """The report's byline (corpus, the student's model file, date of the run), and a warning when the run did
    not finish normally or its model fails the gradient check or differs from the reference (a student who
    skipped `labrnn gradcheck` reads it first); where their model failed, its message as it was given."""
    name = run.corpus["name"]
    when = datetime.fromisoformat(trained_at).strftime("%d %B %Y, %H:%M UTC")
    model = f"{run.model['name']} (sha256 {run.model['sha256'][:12]}…)" if run.model else None
    about = f"This report is about the model file {model}. {MODEL_NOTE}" if model else None
    notes = []
    if run.diverged:
        notes.append(f"Training diverged at step {run.diverged['step']:,} ({run.diverged['reason']}) and stopped "
                     "there; the samples and the best model come from before it.")
    notes += [f"Degenerate outcome: {f.sentence}" for f in _degenerate(run) if f.kind != "diverged"]
    if run.interrupted:
        notes.append(f"Training was interrupted at step {run.steps_done:,}; the report shows what was reached.")
    failing = [r.name for r in check.rows if not r.passed] if check is not None else []
    if failing or (diagnosis is not None and not diagnosis.ok):
        notes.append(("The gradient check fails for " + ", ".join(failing) if failing else
                      "The gradient check passes") +
                     ("" if diagnosis is None or diagnosis.ok else
                      f", and the model differs from labrnn's reference ({diagnosis.summary()})") +
                     ": Tables 1 and 1b below say where.")
    failure = public(run.broken.message, _files(run)) if run.broken else None
    if failure:
        notes.append(f"Training stopped at step {run.broken.step:,}, where the model failed as shown below; the "
                     "curves, the samples and the best model come from before it.")
    byline = f"{name} · model {model} · trained {when}" if model else f"{name} · trained {when}"
    plain = "\n".join([byline, *([about] if about else []), *notes, *([escape(failure, "plain")] if failure else [])])
    return Display(plain=plain, **_both("title_block", name, model, when, about, notes, failure))


def _rows(rows: list[tuple[str, str]]) -> Display:
    """Label and value rows (settings, timing)."""
    return Display(plain="\n".join(f"{k}: {v}" for k, v in rows), **_both("settings", rows))


def settings(run) -> Display:
    """Corpus and settings: everything that fixes the run's numbers (the schema's labelled settings)."""
    c = run.corpus
    return _rows([
        ("Corpus", f"{c['name']}{'' if c['path'] else ' (built in)'}, sha256 {c['sha256'][:12]}…"),   # no path: shared
        ("Size", f"{c['size']:,} characters, K = {c['K']} distinct"),
        *([("Model", f"{run.model['name']}, sha256 {run.model['sha256'][:12]}…")]
          if run.model else []),
        *table_rows(run.settings, run.settings.total_steps(run.train_chars)),
    ])


def timing(run) -> Display:
    """What the run did and how fast: steps, epochs, where the wall time went, updates per second of updating.

    numba's one-off compilation, when this run did it, is a line of its own, outside the wall time."""
    s = run.settings
    samples = f"{len(run.samples)} samples of {s.sample_len:,} characters and the best passage of {s.best_len:,}"
    rows = [
        ("Updates", f"{run.steps_done:,} ({run.epochs_done:g} epochs of {run.steps_per_epoch:,} steps)"),
        ("Wall time", f"{run.wall_seconds:.1f} s"),
        ("Updating", f"{run.train_seconds:.1f} s, {run.steps_per_second:,.0f} steps/s"),
        ("Sampling", f"{run.sample_seconds:.1f} s ({samples})"),
        ("Scoring", f"{run.eval_seconds:.1f} s (held-out loss, {run.heldout_chars_scored:,} characters per sample)"
                    if run.heldout_chars_scored > 1 else "none (holdout 0)"),
        ("Engine", f"{s.engine}, calling loss_and_grads of {run.model['name']} in a child process at every step"
                   if run.model else s.engine),
    ]
    if run.compile_seconds:
        rows.append(("Compiling", f"{run.compile_seconds:.1f} s, before training (numba, once per install)"))
    if run.interrupted:
        rows.append(("Note", "the run was interrupted; it ends at the step shown"))
    if run.diverged:
        rows.append(("Diverged", f"at step {run.diverged['step']:,}: {run.diverged['reason']}"))
    if run.broken:
        rows.append(("Stopped", f"at step {run.broken.step:,}, where the model failed (see the top of the report)"))
    return _rows(rows)


PDF_SHOWN = 8 << 10     # characters of their output report.pdf typesets (the HTML: all the sandbox kept)
PDF_COLUMNS = 60        # and per line: a line wrapped by fvextra is one box, which never breaks across pages


def _folded(text: str, columns: int = PDF_COLUMNS) -> str:
    """The text with its lines cut every `columns` characters, so a long one still flows from page to page."""
    return "\n".join(line[i:i + columns] for line in text.split("\n") for i in range(0, len(line) or 1, columns))


def appendix(run) -> Display:
    """The report's last part, about the student's model file: its name and hash, the layers of labrnn.student.confine
    in force and any missing, and what it printed as labrnn.student.sandbox kept it (escaped, capped).  Nothing
    without a model file."""
    if not run.model:
        return Display("", "", latex="")
    from labrnn.student.confine import LAYERS
    from labrnn.student.sandbox import OUTPUT_SHOWN
    m, c, out = run.model, run.model.get("confinement") or {}, run.model.get("output") or {}
    enforced = [LAYERS.get(k, k) for k in c.get("enforced", [])]
    missing = [f"{LAYERS.get(k, k)}: {public(why)}" for k, why in (c.get("missing") or {}).items()]
    size, text = out.get("bytes", 0), public(out.get("text", ""), _files(run))
    printed = (f"It printed {size:,} bytes (stdout and stderr together)"
               + (f", of which the first {OUTPUT_SHOWN >> 10} KiB are kept" if out.get("cut") else "")
               + (f"; the PDF shows their first {PDF_SHOWN:,} characters" if len(text) > PDF_SHOWN else "")
               + ":" if size else "It printed nothing.")
    heading = "Appendix: the model file"
    about = f"{m['name']}, sha256 {m['sha256']}"
    plain = "\n".join([heading, escape(about, "plain"), "In force:", *(f"- {e}" for e in enforced or ["none"]),
                        *(["Missing:", *(f"- {x}" for x in missing)] if missing else []), printed,
                        *([escape(text, "plain")] if size else [])])
    args = heading, m["name"], m["sha256"], enforced, missing, printed
    return Display(plain=plain, html_=_html.appendix(*args, text if size else None),
                   latex=_tex.appendix(*args, _folded(text[:PDF_SHOWN]) if size else None))


def gradient_table(check) -> Display:
    """The gradient check as the lab reports it: one row per parameter, with its verdict."""
    head = ["Parameter", "max relative error", "mean relative error", "max absolute error",
            "mean absolute error", "verdict"]
    caption = (f"Table 1: analytic against numerical gradients (m = {check.m}, seq_length = {check.seq_length}, "
               f"h = {check.h:g}).")
    return Display(plain=check.table(), **_both("gradient_table", check, head, caption))


def _power(x: float) -> str:
    """10⁻⁸ for 1e-08: a bound as the lab writes it."""
    exponent = str(int(f"{x:.0e}".split("e")[1]))
    return "10" + exponent.translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def gradient_note(check, model: dict | None) -> Display:
    """What the numbers of Table 1 mean, measured on this check: the bounds it applies, the range this run's
    largest errors fall in, and what a wrong gradient gives under the same formula."""
    from labrnn.rnn.gradcheck import MAX_ABS, MAX_REL
    who = f"{model['name']}'s" if model else "labrnn's own"
    rels = [r.max_rel for r in check.rows]
    verdict = ("every parameter passes" if check.passed else
               f"{', '.join(r.name for r in check.rows if not r.passed)} fail")
    text = (f"A parameter passes when its largest absolute error is below {_power(MAX_ABS)} and its largest "
            f"relative error below {_power(MAX_REL)}. On this check {who} gradients give largest relative errors from "
            f"{min(rels):.1e} to {max(rels):.1e} and absolute errors up to {max(r.max_abs for r in check.rows):.1e}: "
            f"{verdict}. Correct gradients leave only round-off of float64 and of the centred difference, "
            "largest in relative terms where a gradient's entries are tiny (the relative error divides by them: "
            "10⁻⁶ can be correct)" + (", and labrnn's own gradients, correct by construction, "
            "give the range above" if model is None else "") + "; a gradient off by a factor of 2 gives 0.33 on "
            "every entry the "
            "loss moves (|2g − g| / (|2g| + |g|)), one of the wrong sign 1; a term missing where it "
            "matters little can sit just above the bound." +
            (" Table 1b sets the same file against labrnn's reference as relative differences." if model else ""))
    return Display(plain=text, **_both("paragraph", text))


PROBE_HEADS = {"start": "the lab's start, h₀ = 0", "h0": "from a random h₀", "large": "large weights",
               "run start": "m = {m}: start", "run h0": "m = {m}: random h₀", "run large": "m = {m}: large weights",
               "training": "training steps"}


def diagnosis(d, model: dict | None) -> Display:
    """Table 1b and what it shows: the model's loss, gradients and h_last set against labrnn's reference on
    the same parameters and data at each probe, then the diagnosis in sentences a student can act on.

    `model` is run.model: the student's file, or None for labrnn's own implementation (which simply matches)."""
    from labrnn.student.diagnose import TOL
    who = model["name"] if model else "labrnn.rnn.model"
    probes = list(dict.fromkeys(r.probe for r in d.comparison))
    items = list(dict.fromkeys(r.name for r in d.comparison))
    cell = {(r.probe, r.name): r for r in d.comparison}
    rows = [(name, [cell[p, name] for p in probes]) for name in items]
    head = ["", *(PROBE_HEADS.get(p, p).format(m=d.run_m) for p in probes)]
    caption = (f"Table 1b: the loss, gradients and last hidden state of {who} against labrnn's reference on the "
               f"same parameters and data (m = {d.m}, seq_length = {d.seq_length}, seed {d.seed}): at the gradient "
               "check's start, from a random h₀, and on weights large enough that some gradient exceeds the clip "
               f"bound ±{d.clip:g}" + (f"; the same three at the run's m = {d.run_m}" if d.run_m else "") +
               (f"; and in training, the worst of its {d.training['steps']:,} steps (the loss and last hidden state "
                f"at every step, the gradients at {len(d.training['gradient_checks'])}: step 0 and steps drawn from "
                "the seed)"
                if d.training else "") +
               f". Each entry is the largest difference over the larger of the two's largest "
               f"entries; up to {TOL:.1e} is round-off, and they match.")
    if d.ok and model is None:          # the reference against itself: a table of zeros says nothing
        text = ("labrnn's own model is the reference's computation, so Table 1b, which sets a model file against "
                "it at the same probes, would show differences of 0 everywhere; a report on a student's file "
                "shows it.")
        return Display(plain=text, **_both("paragraph", text))
    if d.ok:
        sentences = [f"{who} matches the reference everywhere: the same loss, gradients and last hidden state at "
                     "every probe" + (" and at every training step compared." if d.training else ".")]
    else:
        sentences = [f.sentence for f in d.findings]
    return Display(plain=f"{caption}\n{d.table()}", **_both("diagnosis", head, rows, caption, sentences))


WORDS_NOTE = ("Words are runs of two letters or more (one-letter words and initials match by chance); chance is "
              "the share that text drawn from the corpus's own character frequencies, of the same length and "
              "without a model, scores on this corpus.")


def _heading(entry, title: str, chance: float, at: str = "") -> str:
    """A passage's heading: its step and what was measured there, the word share beside its chance level
    (one decimal, as Figure 3 and Table 2 give it; `at`: why the best passage's differs)."""
    parts = [f"{title} {entry.step:,}", f"smooth loss {entry.smooth_loss:.2f}"]
    heldout = getattr(entry, "heldout_bits_per_char", None)      # a Sample's; the best passage has none
    if heldout is not None:
        parts.append(f"held-out {heldout:.2f} bits/char")
    parts.append(f"{100 * entry.word_share:.0f}% corpus words (chance {100 * chance:.1f}%{at})")
    return " · ".join(parts)


def _plain(entry, heading: str) -> str:
    return f"{heading}\n{escape(entry.text, 'plain')}"


def samples(run) -> Display:
    """Every periodic sample, headed by its step and measurements, real words in bold, line breaks kept."""
    entries = [(s, _heading(s, "Step", run.chance_share)) for s in run.samples]
    return Display(plain="\n\n".join(_plain(s, h) for s, h in entries), **_both("samples", entries))


def best_passage(run) -> Display:
    """The passage synthesized by the best model, with the step and smooth loss it was kept at."""
    at = "" if f"{run.best.chance_share:.3f}" == f"{run.chance_share:.3f}" else \
        f" for {len(run.best.text):,} characters"
    heading = _heading(run.best, "Best model, step", run.best.chance_share, at)
    return Display(_html.sample(run.best, "best", heading), _plain(run.best, heading),
                   latex=_tex.sample(run.best, heading))


def evolution_table(run) -> Display:
    """The numbers behind "after 30,000 updates we begin to see English words", one row per sample."""
    heldout = bool(run.samples) and run.samples[0].heldout_loss_per_char is not None
    head = ["step", "smooth loss", "per character"]
    head += ["held-out nats/char", "held-out bits/char"] if heldout else []
    head += ["corpus words"]
    rows = []
    for s in run.samples:
        loss = s.smooth_loss
        row = [f"{s.step:,}", f"{loss:.2f}", f"{loss / run.settings.seq_length:.3f}"]
        if heldout:
            row += [f"{s.heldout_loss_per_char:.3f}", f"{s.heldout_bits_per_char:.3f}"]
        rows.append(row + [f"{100 * s.word_share:.0f}%"])
    caption = ("Table 2: at every sample, the smooth training loss, the loss on held-out text"
               if heldout else "Table 2: at every sample, the smooth training loss")
    caption += (f" and the share of generated words that are words of the corpus (by chance: "
                f"{100 * run.chance_share:.1f}%). {WORDS_NOTE}")
    plain = "\n".join(" | ".join(r) for r in [head, *rows])
    return Display(plain=plain, **_both("evolution_table", head, rows, caption))


def figure(png: bytes, caption: str, alt: str) -> Display:
    """An embedded PNG with its caption (a data: URI, so the report needs no image files)."""
    data = base64.b64encode(png).decode("ascii")
    return Display(plain=caption, png=png, **_both("figure", data, caption, alt))


def loss_plot(run) -> Display:
    """Figure 1: the smooth loss of every update step (matplotlib is imported only here)."""
    from labrnn.report import plots
    fig = plots.loss_figure(run.curve, run.epoch_boundaries, run.settings.seq_length)
    b = run.best
    epochs = (f" over {run.epochs_done:g} epochs (dashed lines mark where each new one begins)"
              if run.epoch_boundaries else "")
    caption = (f"Figure 1: smooth loss at each of the {run.steps_done:,} update steps{epochs}. "
               f"Its minimum, {b.smooth_loss:.2f}, is reached at step {b.step:,}.")
    return figure(plots.png(fig), _warned(caption, run, "jump"), alt="smooth loss against update step")


def heldout_plot(run) -> Display:
    """Figure 2: training against held-out loss per character."""
    from labrnn.report import plots
    scored = [s for s in run.samples if s.heldout_loss_per_char is not None]
    if not scored:
        text = ("This run held no text out (HOLDOUT=0 trains on the whole corpus), so there is no held-out loss: "
                "no curve here and no held-out columns in Table 2.")
        return Display(plain="no held-out loss (holdout 0)", **_both("paragraph", text))
    last = scored[-1]
    fig = plots.heldout_figure(run.curve, scored, run.settings.seq_length)
    caption = (f"Figure 2: smooth training loss per character and loss on held-out text (the corpus's last "
               f"{100 * run.settings.holdout:g}%, never trained on), in nats; the right axis reads bits. At step "
               f"{last.step:,} the held-out loss is {last.heldout_loss_per_char:.3f} nats "
               f"({last.heldout_bits_per_char:.3f} bits) per character.")
    return figure(plots.png(fig), _warned(caption, run, "heldout"),
                  alt="training and held-out loss per character against update step")


def word_share_plot(run) -> Display:
    """Figure 3: the share of corpus words in every sample."""
    from labrnn.report import plots
    caption = (f"Figure 3: share of the words in each sample that are words of the corpus; the dashed line is "
               f"chance, {100 * run.chance_share:.1f}%. {WORDS_NOTE}")
    return figure(plots.png(plots.word_share_figure(run.samples, run.chance_share)), _warned(caption, run, "words"),
                  alt="share of corpus words against update step")

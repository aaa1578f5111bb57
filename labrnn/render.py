"""How a run is shown in a notebook and in the exported report.

Generated text is data, never markup: every piece of it goes through
`escape`, which has one rule per output format, and control characters other
than newline and tab become visible escapes (``\\x07``) instead of vanishing
or corrupting the page.  Each display object carries a mime bundle: text/html
for the report and JupyterLab, text/latex for report.pdf (nbconvert's LaTeX
exporter prefers it, so it never sees HTML), text/plain for terminals and nbval.
"""
from __future__ import annotations

import base64
import html
import re
from datetime import datetime

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(ch: str) -> str:
    """The visible stand-in for a control character."""
    return f"\\x{ord(ch):02x}"


# The LaTeX that escaped text relies on, defined where it is used (\providecommand: once per document), so a
# notebook's text/latex also compiles with nbconvert's stock template.  A character the current font lacks is
# shown as its code point in a box instead of vanishing (xelatex would only log it).
LATEX_MACROS = (
    r'\providecommand{\labrnnchar}[1]{\iffontchar\font"#1 \char"#1 \else\labrnnmissing{#1}\fi}'
    r"\providecommand{\labrnnmissing}[1]{\fbox{\scriptsize U+#1}\allowbreak}"
    r"\providecommand{\labrnnctl}[1]{\textcolor[rgb]{0.64,0.05,0.15}{\textbackslash x#1}}"
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
    """Text made safe for `fmt` ("html", "latex" or "plain"), control characters made visible."""
    if fmt == "latex":
        return "".join(map(_latex_char, text))
    if fmt == "plain":
        return CONTROL.sub(lambda m: visible(m.group()), text)
    if fmt == "html":
        pieces, last = [], 0
        for match in CONTROL.finditer(text):
            pieces.append(html.escape(text[last:match.start()]))
            pieces.append(f'<span class="ctl" title="control character U+{ord(match.group()):04X}">'
                          f"{html.escape(visible(match.group()))}</span>")
            last = match.end()
        pieces.append(html.escape(text[last:]))
        return "".join(pieces)
    raise ValueError(f"unknown format {fmt!r}")


class Display:
    """A mime bundle the notebook shows (html), report.pdf typesets (latex) and nbval compares (plain).

    Without an explicit `latex`, the PDF shows the plain text, escaped, in a monospace block.
    """

    def __init__(self, html_: str, plain: str, png: bytes | None = None, latex: str | None = None):
        self.html, self.plain, self.png = html_, plain, png
        self.latex = LATEX_MACROS + (latex if latex is not None else verbatim(escape(plain, "latex")))

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/html": self.html, "text/latex": self.latex, "text/plain": self.plain}
        if self.png is not None:
            bundle["image/png"] = base64.b64encode(self.png).decode("ascii")
        return bundle

    def __repr__(self) -> str:
        return self.plain


def number(x: float, digits: int = 2, fmt: str = "html") -> str:
    """1.23×10⁻⁶ in HTML, readable offline without MathJax (or in LaTeX, in text mode like the rest)."""
    mantissa, exp = f"{x:.{digits}e}".split("e")
    if fmt == "latex":
        return rf"{mantissa}×10\textsuperscript{{{int(exp)}}}".replace("-", "−")
    return f"{mantissa}×10<sup>{int(exp)}</sup>".replace("-", "&minus;")


def verbatim(latex: str, small: bool = False) -> str:
    """Escaped text in a monospace block that keeps its spaces and line breaks (fancyvrb, specials off)."""
    size = ",fontsize=\\small" if small else ""
    return f"\\begin{{Verbatim}}[commandchars=\\\\\\{{\\}}{size}]\n{latex}\n\\end{{Verbatim}}\n"


def _latex_head(h: str) -> str:
    """A long column heading on two lines, so six columns fit the page."""
    lines = h.rsplit(" ", 1) if len(h) > 12 else [h]
    return r"\begin{tabular}[b]{@{}c@{}}" + r"\\".join(escape(x, "latex") for x in lines) + r"\end{tabular}"


def _latex_table(head: list[str], rows: list[list[str]], spec: str, caption: str = "") -> str:
    """A booktabs table (cells already LaTeX), centred under its caption."""
    cap = rf"\parbox{{\linewidth}}{{\centering {escape(caption, 'latex')}}}\\[1ex]" if caption else ""
    body = "".join(" & ".join(row) + r" \\" + "\n" for row in rows)
    return (f"\\begin{{center}}\\small\n{cap}\n\\begin{{tabular}}{{{spec}}}\\toprule\n"
            + " & ".join(map(_latex_head, head)) + r" \\\midrule" + "\n"
            + body + "\\bottomrule\n\\end{tabular}\n\\end{center}\n")


def _latex_settings(rows: list[tuple[str, str]]) -> str:
    """Label and value rows, values wrapping within the text width."""
    body = "".join(rf"\textbf{{{escape(k, 'latex')}}} & {escape(v, 'latex')} \\" + "\n" for k, v in rows)
    return ("\\par\\noindent\\begin{tabular}{@{}>{\\raggedright\\arraybackslash}p{0.26\\linewidth}"
            ">{\\raggedright\\arraybackslash}p{0.7\\linewidth}@{}}\n" + body + "\\end{tabular}\\par\n")


def _table(head: list[str], rows: list[list[str]], cls: str, caption: str = "") -> str:
    cap = f"<caption>{caption}</caption>" if caption else ""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}">{cap}<thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def title_block(run, trained_at: str) -> Display:
    """The report's byline (corpus, date of the run), and a warning when the run did not finish normally."""
    corpus = run.corpus
    when = datetime.fromisoformat(trained_at).strftime("%d %B %Y, %H:%M UTC")
    notes = []
    if run.diverged:
        notes.append(f"Training diverged at step {run.diverged['step']:,} ({run.diverged['reason']}) and stopped "
                     "there; the samples and the best model come from before it.")
    if run.interrupted:
        notes.append(f"Training was interrupted at step {run.steps_done:,}; the report shows what was reached.")
    warnings = "".join(f'<p class="warning">{html.escape(n)}</p>' for n in notes)
    boxed = "".join(r"\par\noindent\fcolorbox[rgb]{0.75,0.53,0}{1,0.97,0.77}{\parbox{\dimexpr\linewidth-2\fboxsep"
                    rf"-2\fboxrule}}{{{escape(n, 'latex')}}}}}\par" + "\n" for n in notes)
    return Display(f'<p class="byline">Corpus: <b>{html.escape(corpus["name"])}</b> · '
                   f"trained {html.escape(when)}</p>{warnings}",
                   "\n".join([f"{corpus['name']} · trained {when}", *notes]),
                   latex=rf"\par\noindent Corpus: \textbf{{{escape(corpus['name'], 'latex')}}} · trained "
                         rf"{escape(when, 'latex')}\par\medskip" + "\n" + boxed)


def settings(run) -> Display:
    """Corpus and settings: everything that fixes the run's numbers (the schema's labelled settings)."""
    from .settings import table_rows
    c = run.corpus
    rows = [
        ("Corpus", f"{c['name']} ({c['path'] or 'built in'}), sha256 {c['sha256'][:12]}…"),
        ("Size", f"{c['size']:,} characters, K = {c['K']} distinct"),
        *table_rows(run.settings),
    ]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    plain = "\n".join(f"{k}: {v}" for k, v in rows)
    return Display(f'<table class="settings"><tbody>{body}</tbody></table>', plain, latex=_latex_settings(rows))


def timing(run) -> Display:
    """What the run did and how fast: steps, epochs, wall time, steps per second."""
    rows = [
        ("Updates", f"{run.steps_done:,} ({run.epochs_done:g} epochs of {run.steps_per_epoch:,} steps)"),
        ("Wall time", f"{run.wall_seconds:.1f} s, of which {run.train_seconds:.1f} s updating "
                      f"and {run.wall_seconds - run.train_seconds:.1f} s sampling"),
        ("Speed", f"{run.steps_per_second:,.0f} steps/s"),
        ("Engine", run.settings.engine),
    ]
    if run.interrupted:
        rows.append(("Note", "the run was interrupted; it ends at the step shown"))
    if run.diverged:
        rows.append(("Diverged", f"at step {run.diverged['step']:,}: {run.diverged['reason']}"))
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return Display(f'<table class="settings"><tbody>{body}</tbody></table>',
                   "\n".join(f"{k}: {v}" for k, v in rows), latex=_latex_settings(rows))


def gradient_table(check) -> Display:
    """The gradient check as the lab reports it: one row per parameter, with its verdict."""
    rows = [[f"<b>{r.name}</b>", number(r.max_rel), number(r.mean_rel), number(r.max_abs), number(r.mean_abs),
             '<span class="pass">pass</span>' if r.passed else '<span class="fail">FAIL</span>']
            for r in check.rows]
    head = ["Parameter", "max relative error", "mean relative error", "max absolute error",
            "mean absolute error", "verdict"]
    caption = (f"Table 1: analytic against numerical gradients (m = {check.m}, seq_length = {check.seq_length}, "
               f"h = {check.h:g}).")
    verdict = {True: r"\textcolor[rgb]{0.1,0.5,0.2}{pass}", False: r"\textcolor[rgb]{0.7,0.1,0.1}{\textbf{FAIL}}"}
    latex_rows = [[rf"\textbf{{{r.name}}}", *(number(x, fmt="latex") for x in (r.max_rel, r.mean_rel, r.max_abs,
                                                                                 r.mean_abs)), verdict[r.passed]]
                  for r in check.rows]
    return Display(_table(head, rows, "gradcheck", caption), check.table(),
                   latex=_latex_table(head, latex_rows, "lrrrrl", caption))


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
    return "".join(pieces)


def _sample(entry: dict, cls: str, title: str) -> tuple[str, str, str]:
    parts = [f"{title} {entry.step:,}", f"smooth loss {entry.smooth_loss:.2f}"]
    if getattr(entry, "heldout_bits_per_char", None) is not None:
        parts.append(f"held-out {entry.heldout_bits_per_char:.2f} bits/char")
    parts.append(f"{100 * entry.word_share:.0f}% corpus words")
    heading = " · ".join(parts)
    body = marked(entry.text, entry.word_spans)
    html_ = (f'<article class="sample" id="{cls}-{entry.step}"><h4 class="sample-heading">'
             f'{html.escape(heading)}</h4><pre class="generated {cls}">{body}</pre></article>')
    # in a group where the block may not start a page, so a heading never ends one
    latex = (r"\par\medskip{\csname @beginparpenalty\endcsname=10000 \noindent"
             rf"{{\small\textbf{{{escape(heading, 'latex')}}}}}\par\nopagebreak" + "\n"
             + verbatim(marked(entry.text, entry.word_spans, "latex"), small=True) + "}\n")
    return html_, f"{heading}\n{escape(entry.text, 'plain')}", latex


def samples(run) -> Display:
    """Every periodic sample, headed by its step and measurements, real words in bold, line breaks kept."""
    parts = [_sample(s, "sample", "Step") for s in run.samples]
    return Display('<div class="samples">' + "".join(h for h, _, _ in parts) + "</div>",
                   "\n\n".join(p for _, p, _ in parts), latex="".join(t for _, _, t in parts))


def best_passage(run) -> Display:
    """The passage synthesized by the best model, with the step and smooth loss it was kept at."""
    html_, plain, latex = _sample(run.best, "best", "Best model, step")
    return Display(html_, plain, latex=latex)


def evolution_table(run) -> Display:
    """The numbers behind "after 30,000 updates we begin to see English words", one row per sample."""
    heldout = bool(run.samples) and run.samples[0].heldout_loss_per_char is not None
    head = ["step", "smooth loss", "per character"]
    head += ["held-out nats/char", "held-out bits/char"] if heldout else []
    head += ["corpus words"]
    rows = []
    for s in run.samples:
        row = [f"{s.step:,}", f"{s.smooth_loss:.2f}", f"{s.smooth_loss / run.settings.seq_length:.3f}"]
        if heldout:
            row += [f"{s.heldout_loss_per_char:.3f}", f"{s.heldout_bits_per_char:.3f}"]
        rows.append(row + [f"{100 * s.word_share:.0f}%"])
    caption = ("Table 2: at every sample, the smooth training loss, the loss on held-out text"
               if heldout else "Table 2: at every sample, the smooth training loss")
    caption += " and the share of generated words that are words of the corpus."
    plain = "\n".join(" | ".join(r) for r in [head, *rows])
    return Display(_table(head, rows, "evolution", caption), plain,
                   latex=_latex_table(head, [[escape(c, "latex") for c in r] for r in rows], "r" * len(head), caption))


def figure(png: bytes, caption: str, alt: str) -> Display:
    """An embedded PNG with its caption (a data: URI, so the report needs no image files)."""
    data = base64.b64encode(png).decode("ascii")
    return Display(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
                   f"<figcaption>{html.escape(caption)}</figcaption></figure>", caption, png,
                   latex=rf"\begin{{center}}\small\parbox{{0.9\linewidth}}{{{escape(caption, 'latex')}}}\end{{center}}")


def loss_plot(run) -> Display:
    """Figure 1: the smooth loss of every update step (matplotlib is imported only here)."""
    from . import plots
    fig = plots.loss_figure(run.curve, run.epoch_boundaries, run.settings.seq_length)
    b = run.best
    epochs = (f" over {run.epochs_done:g} epochs (dashed lines mark where each new one begins)"
              if run.epoch_boundaries else "")
    caption = (f"Figure 1: smooth loss at each of the {run.steps_done:,} update steps{epochs}. "
               f"Its minimum, {b.smooth_loss:.2f}, is reached at step {b.step:,}.")
    return figure(plots.png(fig), caption, alt="smooth loss against update step")


def heldout_plot(run) -> Display:
    """Figure 2: training against held-out loss per character."""
    from . import plots
    scored = [s for s in run.samples if s.heldout_loss_per_char is not None]
    if not scored:
        text = "This run held no text out (holdout 0), so there is no held-out loss."
        return Display(f"<p>{text}</p>", "no held-out loss (holdout 0)", latex=escape(text, "latex") + "\n")
    last = scored[-1]
    fig = plots.heldout_figure(run.curve, scored, run.settings.seq_length)
    caption = (f"Figure 2: smooth training loss per character and loss on held-out text (the corpus's last "
               f"{100 * run.settings.holdout:g}%, never trained on), in nats; the right axis reads bits. At step "
               f"{last.step:,} the held-out loss is {last.heldout_loss_per_char:.3f} nats "
               f"({last.heldout_bits_per_char:.3f} bits) per character.")
    return figure(plots.png(fig), caption, alt="training and held-out loss per character against update step")


def word_share_plot(run) -> Display:
    """Figure 3: the share of corpus words in every sample."""
    from . import plots
    caption = ("Figure 3: share of the words in each sample (runs of letters) that are words of the corpus. "
               "Random text scores a few percent from short words like 'a' and 'I'.")
    return figure(plots.png(plots.word_share_figure(run.samples)), caption,
                  alt="share of corpus words against update step")

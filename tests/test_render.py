"""The displays' markup, without training: text from the corpus (its name, its path, generated text) is
escaped for each format, and HTML escaping never reaches LaTeX."""
import re
from types import SimpleNamespace

import pytest

from labrnn import Best, Sample, Settings
from labrnn.report import render
from labrnn.settings import NAMES, meta

pytestmark = pytest.mark.fast
NAME = "<b>bold</b> & \"q\" 'a' {x} \\y $1 50% #2 a_b ^ ~ \x07"


def fake_run(**kw):
    corpus = {"name": NAME, "path": f"/data/{NAME}.txt", "sha256": "0" * 64, "size": 1234, "K": 40}
    return SimpleNamespace(**{"corpus": corpus, "settings": Settings(steps=1000), "diverged": None,
                              "interrupted": False, "broken": None, "model": None, "steps_done": 1000,
                              "train_chars": 1200, "samples": [], "curve": [50.0], "epoch_boundaries": [],
                              "chance_share": 0.05, "best": SimpleNamespace(step=0, word_share=0.0, chance_share=0.05),
                              **kw})


def test_a_corpus_named_with_markup_is_text_in_the_settings_table():
    shown = render.settings(fake_run())
    assert "<b>bold</b>" not in shown.html and "&lt;b&gt;bold&lt;/b&gt; &amp; &#34;q&#34; &#39;a&#39;" in shown.html
    assert '<span class="ctl" title="control character U+0007">\\x07</span>' in shown.html
    assert (r'<b>bold</\allowbreak{}b> \& "q" \textquotesingle{}a\textquotesingle{} \{x\} \textbackslash{}y \$1 50\% '
            r"\#2 a\_b \textasciicircum{} \textasciitilde{} \labrnnctl{07}") in shown.latex
    assert "&lt;" not in shown.latex and "&amp;" not in shown.latex           # no HTML escaping in LaTeX
    assert shown.plain.splitlines()[0] == f"Corpus: {NAME}, sha256 000000000000…"      # a shared file: no path


def test_the_title_block_escapes_the_name_in_both_formats():
    shown = render.title_block(fake_run(), "2024-05-01T12:00:00+00:00")
    assert shown.html.startswith('<p class="byline">Corpus: <b>&lt;b&gt;bold&lt;/b&gt; &amp; ')
    assert r"\textbf{<b>bold</\allowbreak{}b> \& " in shown.latex
    assert shown.plain == f"{NAME} · trained 01 May 2024, 12:00 UTC"


def test_generated_text_is_text_in_each_format():
    fields = {"step": 1000, "text": "the <end>\x1b", "word_share": 0.5, "word_spans": [[0, 3]], "smooth_loss": 42.0}
    run = fake_run(samples=[Sample(**fields)], best=Best(**fields, chance_share=0.06), chance_share=0.04)
    samples, best, table = render.samples(run), render.best_passage(run), render.evolution_table(run)
    assert ('<pre class="generated sample"><b class="word">the</b> &lt;end&gt;<span class="ctl" '
            'title="control character U+001B">\\x1b</span></pre>') in samples.html
    assert samples.plain == "Step 1,000 · smooth loss 42.00 · 50% corpus words (chance 4.0%)\nthe <end>\\x1b"
    assert best.plain.startswith("Best model, step 1,000 · smooth loss 42.00 · 50% corpus words "
                                 "(chance 6.0% for 10 characters)")      # its length's chance, one decimal
    assert "(by chance: 4.0%)" in table.plain or "by chance: 4.0%" in table.html
    assert r"\textbf{the} <end>\labrnnctl{1b}" in best.latex and 'id="best-1000"' in best.html
    assert table.plain == "step | smooth loss | per character | corpus words\n1,000 | 42.00 | 1.680 | 50%"
    assert "(by chance: 4.0%). Words are runs of two letters or more" in table.html


def test_numbers_are_readable_without_mathjax():
    assert render.number(1.234e-6) == "1.23×10<sup>−6</sup>"
    assert render.number(5e-11, fmt="latex") == r"5.00×10\textsuperscript{\labrnnchar{2212}11}"


def test_the_settings_table_has_a_row_per_labelled_setting():
    labels = [line.split(": ")[0] for line in render.settings(fake_run()).plain.splitlines()]
    assert labels == ["Corpus", "Size", *(meta(n).label for n in NAMES if meta(n).label)]


def test_a_students_model_and_its_failure_are_text_in_both_formats():
    """The model file's name and their exception's message are theirs: escaped like any generated text."""
    from labrnn.rnn.train import Broken
    model = {"name": f"{NAME}.py", "path": f"/home/{NAME}.py", "sha256": "ab" * 32}
    message = f"/home/{NAME}.py:3: the call raised ValueError\n<script>alert(1)</script> {{oops}} 100%"
    shown = render.title_block(fake_run(model=model, broken=Broken(7, message)), "2024-05-01T12:00:00+00:00")
    assert "<script>" not in shown.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown.html
    assert '<pre class="failure">&lt;b&gt;bold&lt;/b&gt; &amp;' in shown.html and "/home" not in shown.html   # a name
    assert "model <b>&lt;b&gt;bold&lt;/b&gt;" in shown.html and "Training stopped at step 7" in shown.html
    assert r"\{oops\} 100\%" in shown.latex and "&lt;" not in shown.latex
    assert render.settings(fake_run(model=model)).plain.splitlines()[2] == f"Model: {NAME}.py, sha256 {'ab' * 6}…"


def test_the_comparison_with_the_reference_names_the_model_escaped():
    from labrnn.student.diagnose import Diagnosis
    rows = [{"probe": p, "name": k, "max_rel": 0.0 if k != "W" else 0.5, "matches": k != "W"}
            for p in ("start", "h0", "large") for k in ("loss", "W", "U", "V", "b", "c", "h_last")]
    finding = {"mistake": "transposed", "params": ["W"], "sentence": "Your dW is <the> transpose & more.",
               "short": "dW transposed"}
    d = Diagnosis.from_dict({"m": 3, "seq_length": 8, "seed": 1, "clip": 5.0, "comparison": rows,
                             "findings": [finding]})
    shown = render.diagnosis(d, {"name": f"{NAME}.py"})
    assert "Your dW is &lt;the&gt; transpose &amp; more." in shown.html and "<the>" not in shown.html
    assert "of &lt;b&gt;bold&lt;/b&gt;" in shown.html and shown.html.count('class="fail"') == 3
    assert r"transpose \& more." in shown.latex and r"\begin{itemize}" in shown.latex
    assert shown.plain.startswith("Table 1b: ") and shown.plain.endswith(d.table())
    ok = Diagnosis.from_dict({"m": 3, "seq_length": 8, "seed": 1, "clip": 5.0, "findings": [],
                              "comparison": [dict(r, max_rel=0.0, matches=True) for r in rows]})
    own = render.diagnosis(ok, None)        # the reference against itself: one sentence, not a table of zeros
    assert "<table" not in own.html and "labrnn's own model is the reference's computation" in own.plain
    assert "theirs.py matches the reference everywhere" in render.diagnosis(ok, {"name": "theirs.py"}).html


def test_the_gradient_note_states_its_bounds_and_this_checks_numbers():
    from labrnn.rnn.gradcheck import GradCheck, Row
    check = GradCheck((Row("W", 2.5e-6, 1e-7, 2e-10, 1e-11), Row("U", 3e-8, 1e-9, 2e-10, 1e-11)), 5, 25, 1e-4, 1)
    note = render.gradient_note(check, None).plain
    assert "below 10⁻⁸" in note and "below 10⁻⁴" in note and "from 3.0e-08 to 2.5e-06" in note
    assert "factor of 2 gives 0.33" in note and "every parameter passes" in note
    broken = GradCheck((Row("W", 0.33, 0.3, 1e-3, 1e-4),), 5, 25, 1e-4, 1)
    assert "W fail" in render.gradient_note(broken, {"name": "my.py"}).plain


def test_no_words_of_ours_a_student_would_delete():
    from pathlib import Path
    root = Path(render.__file__).resolve().parent
    texts = [p.read_text(encoding="utf-8") for p in [*root.parent.joinpath("notebooks").glob("*.ipynb"),
                                                      *root.joinpath("templates").rglob("*.j2"), root / "render.py"]]
    assert not [t for t in texts if "seed report" in t]


def test_the_title_block_says_when_the_model_fails_its_check():
    from labrnn.student.diagnose import Comparison, Diagnosis, Finding
    from labrnn.rnn.gradcheck import GradCheck, Row
    check = GradCheck((Row("W", 0.5, 0.1, 1e-3, 1e-4), Row("U", 1e-9, 1e-10, 1e-12, 1e-13)), 3, 10, 1e-4, 1)
    wrong = Diagnosis((Comparison("start", "W", 0.9, False),),
                      (Finding("transposed", ("W",), "Your dW is the transpose of the lab's.", "dW transposed"),),
                      3, 10, 1, 5.0)
    shown = render.title_block(fake_run(), "2024-05-01T12:00:00+00:00", check, wrong)
    assert "The gradient check fails for W, and the model differs from labrnn's reference (dW transposed)" \
        in shown.plain
    assert "dW transposed" in shown.html
    passing = GradCheck((Row("W", 1e-9, 1e-10, 1e-12, 1e-13),), 3, 10, 1e-4, 1)
    right = Diagnosis((Comparison("start", "W", 0.0, True),), (), 3, 10, 1, 5.0)
    assert "gradient check" not in render.title_block(fake_run(), "2024-05-01T12:00:00+00:00", passing, right).plain


def _printing_model(text: str, size: int) -> dict:
    """run.model of a file that printed `text` (`size` bytes in all), with one layer of confinement missing."""
    from labrnn.student.sandbox import OUTPUT_SHOWN, printable
    return {"name": f"{NAME}.py", "path": f"/home/secret/{NAME}.py", "sha256": "ab" * 32,
            "confinement": {"enforced": ["landlock", "seccomp"], "missing": {"scopes": "kernel <6.12> & older"}},
            "output": {"text": printable(text), "bytes": size, "cut": size > OUTPUT_SHOWN}}


def test_the_appendix_names_the_files_protections_and_shows_its_output_escaped():
    """What a student's file printed (markup, terminal escapes, LaTeX specials) is text in the appendix, never
    markup; the appendix names the layers in force and the missing one, and never the file's absolute path."""
    from labrnn.student.confine import LAYERS
    printed = "<script>alert(1)</script>\x1b[2J {x} \\end{Verbatim} 50% #2 $ ␀ é\n"
    shown = render.appendix(fake_run(model=_printing_model(printed * 2000, 200_000)))
    assert "<script>" not in shown.html and "&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[2J {x}" in shown.html
    assert '<h2 id="appendix-model">Appendix: the model file</h2>' in shown.html and "\x1b" not in shown.html
    assert f"sha256 {'ab' * 32}" in shown.plain and "/home/secret" not in shown.plain + shown.html + shown.latex
    assert all(LAYERS[k] in shown.html for k in ("landlock", "seccomp"))
    assert f"{LAYERS['scopes']}: kernel &lt;6.12&gt; &amp; older" in shown.html
    assert "It printed 200,000 bytes (stdout and stderr together), of which the first 64 KiB are kept" in shown.plain
    assert r"\textbackslash{}x1b[2J \{x\} \textbackslash{}end\{Verbatim\} 50\% \#2 \$" in shown.latex
    assert r" \labrnnchar{2400} \labrnnchar{E9}" in shown.latex and "&lt;" not in shown.latex
    body = shown.latex.split(r"\begin{Verbatim}", 1)[1]       # 8 KiB of it, in lines that can flow across pages
    assert len(body) < 3 * render.PDF_SHOWN and "the PDF shows their first 8,192 characters" in shown.latex
    assert body.count("\n") > render.PDF_SHOWN // render.PDF_COLUMNS
    assert render.appendix(fake_run(model=_printing_model("", 0))).plain.endswith("It printed nothing.")


def test_a_report_without_a_model_file_has_no_appendix():
    shown = render.appendix(fake_run())
    assert shown.html == shown.plain == "" and "Appendix" not in shown.latex


def test_the_timing_table_leaves_the_confinement_to_the_appendix():
    run = fake_run(model=_printing_model("hello\n", 6), steps_done=10, epochs_done=0.5, steps_per_epoch=20,
                   wall_seconds=1.0, train_seconds=0.5, steps_per_second=20.0, sample_seconds=0.1, samples=[],
                   eval_seconds=0.1, heldout_chars_scored=0, compile_seconds=0)
    labels = [line.split(": ")[0] for line in render.timing(run).plain.splitlines()]
    assert labels == ["Updates", "Wall time", "Updating", "Sampling", "Scoring", "Engine"]


def test_what_a_student_sees_is_relative_differences_and_how_to_fix_them(genesis_text):
    """Feedback a student may see (their report, the default form): every number of Table 1b is the relative
    difference of their loss, gradient or h_last to the reference's at a probe, never the reference's values;
    the sentences say what to change."""
    from test_gradebook import checked, student

    from labrnn.rnn.corpus import Corpus
    _, d = checked(Corpus(genesis_text, "genesis"), student("mistake_sign"))
    shown = render.diagnosis(d, {"name": "sign.py", "sha256": "0" * 64})
    cells = re.findall(r'<td>([^<]*(?:<sup>[^<]*</sup>)?) <span class="(?:pass|fail)">', shown.html)
    assert len(cells) == len(d.comparison) > 0
    assert sorted(cells) == sorted(render.number(r.max_rel) if r.max_rel else "0" for r in d.comparison)
    assert all(r.max_rel == pytest.approx(2.0) for r in d.comparison if r.name in "WUVbc")    # minus the lab's
    assert "not their negatives" in shown.html

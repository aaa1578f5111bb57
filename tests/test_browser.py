"""The pages as a reader's browser shows them: headless Chromium (Debian's, driven by Playwright) opens
report.html, the index and a sweep's comparison.html, with nothing fetched from the network, no console
error, and every figure drawn at a real size.

`assert_renders(html, screenshot)` is the check; any test with an HTML file can call it.
"""
from pathlib import Path

import pytest

from labrnn.sweeps import grid, sweep


def assert_renders(browser, html, screenshot) -> dict:
    """Open `html` (a local file); fail on any failed or non-local request, console error or page error,
    and on any <img> or <figure> without a rendered size; save a full-page screenshot.  Returns the counts."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems = []
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:80]} ({r.failure})"))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:"))
            else problems.append(f"network request: {r.url[:80]}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    try:
        page.goto(html.as_uri(), wait_until="load")
        sizes = page.evaluate("""() => ({
            images: [...document.images].map(i => {
                const r = i.getBoundingClientRect();
                return {alt: i.alt, natural: i.naturalWidth, width: r.width, height: r.height};
            }),
            figures: [...document.querySelectorAll('figure')].map(f => {
                const r = f.getBoundingClientRect();
                return {width: r.width, height: r.height};
            }),
        })""")
        page.screenshot(path=str(screenshot), full_page=True)
    finally:
        page.close()
    assert not problems, problems
    for img in sizes["images"]:
        assert img["natural"] > 0 and img["width"] > 0 and img["height"] > 0, img
    for fig in sizes["figures"]:
        assert fig["width"] > 0 and fig["height"] > 0, fig
    assert screenshot.stat().st_size > 10_000
    return {k: len(v) for k, v in sizes.items()}


@pytest.fixture(scope="module")
def made(tiny_report):
    return tiny_report[0] / "report.html"


def test_report_renders_in_chromium(browser, made, tmp_path):
    counts = assert_renders(browser, made, tmp_path / "report.png")
    assert counts["images"] >= 3 and counts["figures"] == counts["images"]   # loss, held-out, word share


def test_the_contents_lead_to_their_sections(browser, made):
    page = browser.new_page()
    try:
        page.goto(made.as_uri(), wait_until="load")
        targets = page.evaluate("""() => [...document.querySelectorAll('nav.toc a')].map(a => {
            const h = document.getElementById(decodeURIComponent(a.hash.slice(1)));
            return [a.textContent, h && h.tagName, h && h.firstChild.textContent];
        })""")
    finally:
        page.close()
    assert len(targets) == 5 and all(tag == "H2" and text == heading for text, tag, heading in targets), targets


def test_index_renders_in_chromium(browser, made, tmp_path):
    assert_renders(browser, made.parent.parent / "index.html", tmp_path / "index.png")


def test_comparison_renders_in_chromium(browser, tiny, tmp_path):
    fixed = {k: v for k, v in vars(tiny(reports=tmp_path / "reports", jobs=2)).items() if k != "eta"}
    result = sweep.make_sweep(grid.grid({"eta": [0.05, 0.1]}, **fixed), log=lambda m: None)
    counts = assert_renders(browser, result.comparison, tmp_path / "comparison.png")
    assert counts["images"] >= 1


def test_every_index_link_opens_its_page(browser, made, tmp_path):
    """Directory names that a browser would read as a scheme, a fragment or a query still link to their report."""
    import shutil

    from labrnn.report.export import build_index
    reports = tmp_path / "reports"
    for name in ["javascript:alert(1)", "a#b?c%d e", made.parent.name]:
        shutil.copytree(made.parent, reports / name)
    page = browser.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(build_index(reports).as_uri(), wait_until="load")
        links = page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
        assert len(links) == 3
        for link in links:
            page.goto(link, wait_until="load")
            assert "lab report" in page.title().lower() or page.query_selector("nav.toc"), link
    finally:
        page.close()
    assert dialogs == []


def a_class_of(n: int, tmp_path):
    """The page of a made-up class of n submissions (no training): long file names, long diagnoses, a few that
    did not run."""
    import math
    from types import SimpleNamespace

    import labrnn
    from labrnn.sweeps import comparison
    from labrnn.rnn.train import Best, Run, Sample
    words = ["correct", "no BPTT", "gradients wrong at training step 70 (no BPTT)", "dW transposed; tanh' missing"]
    done, failed = [], []
    for i in range(n):
        settings = labrnn.Settings(model=f"/nowhere/a_student_with_a_rather_long_name_number_{i:03d}.py", steps=200)
        if i % 17 == 3:
            failed.append((settings, f"/nowhere/x{i}.py:5: importing the file raised SyntaxError (invalid syntax)"))
            continue
        loss = 40.0 + (i * 37) % 64
        best = Best(step=200, smooth_loss=loss, text="", word_share=0.1, word_spans=[], chance_share=0.05)
        samples = [Sample(step=200, text="", word_share=0.0, word_spans=[], heldout_loss_per_char=loss / 25,
                          heldout_bits_per_char=loss / 25 / math.log(2))]
        run = Run(settings=settings, corpus={"name": "genesis", "sha256": "ab" * 32, "K": 65}, curve=[loss] * 201,
                  samples=samples, best=best, best_params={}, steps_done=200, epochs_done=1.0, steps_per_epoch=200,
                  train_seconds=1.0, model={"name": settings.model, "path": settings.model, "sha256": "cd" * 32})
        check = SimpleNamespace(rows=[SimpleNamespace(name=k, passed=(i + j) % 5 != 0)
                                      for j, k in enumerate("WUVbc")])
        diagnosis = SimpleNamespace(summary=lambda w=words[i % 4]: w)
        done.append(comparison.Done(settings, Path(f"/nowhere/run{i}/report.html"), run, check, diagnosis))
    names = grid.varied([d.settings for d in done] + [p for p, _ in failed])
    return comparison.write_comparison(tmp_path / "sweep-class", "class", done[0].run.corpus, done, failed, names)


def test_a_class_of_200_reads_at_1280_px_and_sorts(browser, tmp_path):
    """issue 20: the class page with 200 rows, at 1,280 px: the table needs no horizontal scroll, a click on a
    heading sorts by it, nothing is fetched."""
    html = a_class_of(200, tmp_path)
    assert_renders(browser, html, tmp_path / "class.png")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(html.as_uri(), wait_until="load")
        widths = page.evaluate("""() => { const t = document.getElementById('runs');
            return {table: t.scrollWidth, parent: t.parentElement.clientWidth, page: document.documentElement.scrollWidth,
                    rows: t.tBodies[0].rows.length}; }""")
        assert widths["rows"] == 200 and widths["table"] <= widths["parent"] and widths["page"] <= 1280, widths
        heads = page.eval_on_selector_all("#runs thead th", "ths => ths.map(th => th.textContent)")
        assert heads == ["file", "gradients", "diagnosis", "loss/char", "held-out bits/char", "report"]
        page.click("#runs thead th:nth-child(4) button")
        keys = page.eval_on_selector_all("#runs tbody tr td:nth-child(4)", "tds => tds.map(td => td.dataset.v)")
        numbers = [float(k) for k in keys if k not in ("", "None")]
        assert numbers == sorted(numbers) and len(numbers) == 200 - len(range(3, 200, 17))
        assert keys[len(numbers):] == [""] * (200 - len(numbers))                # did not run: last
    finally:
        page.close()
    text = html.read_text(encoding="utf-8")
    assert "Every row: " in text and text.count('<rect ') == 5                 # 4 diagnoses and "did not run"

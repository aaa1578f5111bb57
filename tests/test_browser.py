"""The pages as a reader's browser shows them: headless Chromium (Debian's, driven by Playwright) opens
report.html, the index and a sweep's comparison.html, with nothing fetched from the network, no console
error, and every figure drawn at a real size.

`assert_renders(html, screenshot)` is the check; any test with an HTML file can call it.
"""
import pytest

from labrnn import grid, sweep


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

    from labrnn.export import build_index
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

"""Names a user chose go through the whole report as text (issue 19, point 6): class (genre) folders,
clip files and the run directory named ``$\\foo{x}$``, ``<img src=x onerror=alert(1)>`` and with a
newline, through ``bench run`` (Markdown, HTML, figures) and ``bench compare``."""
import re
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from bench.cli import main
from tests.conftest import tone

MATH, IMG, NEWLINE = "$\\foo{x}$", "<img src=x onerror=alert(1)>", "two\nlines"
CLASSES = (MATH, IMG, NEWLINE)


@pytest.fixture(scope="module")
def hostile_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("user") / "data [x](javascript:alert(1))"
    for ci, cls in enumerate(CLASSES):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            name = [f"{MATH} {i}.wav", f"{IMG}{i}.wav", f"line\nbreak {i}.wav", f"plain{i}.wav"][i]
            sf.write(str(root / cls / name), tone(250.0 * (ci + 1) + 15 * i, 1.0, 16000, seed=ci * 4 + i), 16000,
                     subtype="PCM_16")
    (root / IMG / "broken\n# heading <b>x $y$.wav").write_bytes(b"RIFF not audio at all")  # skipped
    return root


def test_hostile_genre_clip_and_run_names_pass_through_every_output(hostile_data, tmp_path, capsys):
    out = tmp_path / f"run {MATH} {IMG}"
    argv = ["run", "--dataset", "folder", "--data-dir", str(hostile_data), "--cache-dir", str(tmp_path / "c"),
            "--out", str(out), "--units", "indrnn", "--folds", "2", "--repeats", "1", "--epochs", "2",
            "--seconds", "1", "--J", "6", "--Q", "4", "--hidden", "8", "--layers", "1", "--batch-size", "4",
            "--warmup-iters", "1", "--threads", "1"]
    assert main(argv) == 0, capsys.readouterr().err
    preds = pd.read_csv(out / "predictions.csv")
    assert any("\n" in c for c in preds.clip_id)  # the newline survived the CSV round trip

    report = out / "report"
    md = (report / "report.md").read_text()
    # no raw HTML, no link, no math, and no line a name injected: every name stays inside its own line
    body = re.sub(r"(?m)^> \*\*Warning:\*\*", "", md)  # the page's own warning markup
    unescaped = re.findall(r"(?<!\\)[<>$]|(?<!\\)\]\(javascript", body)  # "\<" is a literal "<" in Markdown
    assert unescaped == []
    assert "\\<img src=x onerror=alert(1)\\>" in md
    assert "\\$\\\\foo\\{x\\}\\$" in md
    assert "two\\\\nlines" in md  # the newline shown as \n, escaped
    assert not any(line.lstrip("> ").startswith(("# heading", "heading")) for line in md.splitlines())
    assert "broken\\\\n\\# heading \\<b\\>x \\$y\\$.wav" in md
    assert not re.search(r"broken\S*: .*broken", md)  # the skipped clip's path is said once, not "path: path:"

    html = (report / "report.html").read_text()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>x" not in html and "two\\nlines" in html
    assert len(re.findall(r"<img ", html)) == 3  # the three embedded figures, nothing else
    assert all((report / f).stat().st_size > 1000 for f in ("figure5.png", "figure4.png", "confusion.png"))

    assert main(["compare", str(out), str(out), "--out", str(tmp_path / "cmp")]) == 0
    cmp = (tmp_path / "cmp" / "compare.md").read_text()
    assert re.findall(r"(?<!\\)[<>$]", cmp) == [] and "\\$\\\\foo\\{x\\}\\$" in cmp


def test_figures_draw_mathtext_like_names_as_typed(tmp_path):
    """matplotlib used to parse a genre "$\\foo{x}$" as mathtext and raise while drawing."""
    import matplotlib.pyplot as plt

    from reports.figures import plain_text, save

    with plain_text():  # how every figure function of reports/ builds its figure
        fig, ax = plt.subplots()
        ax.set_xticks([0, 1], [MATH, IMG])
        ax.set_title(f"{MATH} {NEWLINE}")
    save(fig, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_an_error_naming_a_file_with_a_newline_stays_on_one_line(tmp_path, capsys):
    assert main(["run", "--config", str(tmp_path / "my\nconfig.toml"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "my\\nconfig.toml: cannot be read" in err

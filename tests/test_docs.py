"""The README's tables are generated from the code they describe; keep them in agreement."""

from pathlib import Path

from tracking.config import docs_table as settings_table
from tracking.touchpoints import docs_table as touchpoint_table

from .test_metrics import CONTRACT

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_lists_every_setting_and_touchpoint():
    assert settings_table() in README, "regenerate with tracking.config.docs_table()"
    assert touchpoint_table() in README, "regenerate with tracking.touchpoints.docs_table()"


def test_readme_lists_every_metric():
    for name, (kind, _labels) in CONTRACT.items():
        exposed = name + "_total" if kind == "counter" else name
        assert f"`{exposed}`" in README, exposed


def test_the_timeline_says_every_touchpoint_in_words():
    """admin.js names each touchpoint in the owner's words (the timeline shows the raw name
    only small beside it): a touchpoint added to the catalogue needs its words too."""
    import re
    from pathlib import Path

    from tracking.touchpoints import CATALOGUE

    script = (Path(__file__).resolve().parent.parent / "admin/static/admin.js").read_text()
    words = script[script.index("const TOUCHPOINT_WORDS = {"):]
    words = words[:words.index("};")]
    assert set(re.findall(r"(\w+): '", words)) == set(CATALOGUE)

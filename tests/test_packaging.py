"""The tracker as another shop installs it: a wheel of `tracking` alone (tracking/
pyproject.toml, `make tracker-wheel`), with only the tracker's dependencies, that works in
an app of its own."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

from .support import ROOT

APP = textwrap.dedent('''
    import sys
    import tracking
    from flask import Flask
    from tracking import JourneyTracker

    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", JOURNEY_DATABASE_URL=f"sqlite:///{sys.argv[1]}/j.db")
    journey = JourneyTracker(app)

    @app.get("/p/<int:pid>")
    @journey.tracks("product_view", product_id=lambda pid: pid)
    def product(pid):
        return "<h1>A product</h1>"

    with app.app_context():
        journey.create_all()
    client = app.test_client()
    client.get("/p/7", headers={"User-Agent": "Mozilla/5.0 Firefox/126.0"})
    with app.app_context():
        journey.flush()
    page = client.get("/metrics").text
    print(tracking.__file__)
    print([line for line in page.splitlines()
           if line.startswith("journey_stage_entered_total{")])
''')


def test_the_tracker_wheel_holds_the_tracker_alone_and_works_in_another_app(tmp_path):
    source = tmp_path / "src" / "tracking"
    shutil.copytree(ROOT / "tracking", source, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path / "dist"), str(source)],
                           capture_output=True, text=True, timeout=180)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("touchpoint_tracking-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert packages == {"tracking"}, "no storefront, checkout or admin beside it"
    assert "tracking/pyproject.toml" not in names
    requires = sorted(re.match(r"[A-Za-z0-9_.-]+", line.split(":", 1)[1].strip()).group()
                      for line in metadata.splitlines()
                      if line.startswith("Requires-Dist:") and "extra ==" not in line)
    assert requires == ["Flask", "SQLAlchemy", "marshmallow", "prometheus-client"], metadata
    assert "journey = tracking.pytest_plugin" in entry_points

    site = tmp_path / "site"
    installed = subprocess.run([*pip, "install", "--quiet", "--no-deps", "--target", str(site),
                                str(wheel)], capture_output=True, text=True, timeout=180)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    (tmp_path / "shop.py").write_text(APP)
    ran = subprocess.run([sys.executable, "shop.py", str(tmp_path)], cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site)},
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    where, stages = ran.stdout.splitlines()
    assert Path(where).is_relative_to(site), "the installed wheel's, not this checkout's"
    assert "journey_stage_entered_total{stage=\"landing\"} 1.0" in stages
    assert "journey_stage_entered_total{stage=\"browse\"} 1.0" in stages

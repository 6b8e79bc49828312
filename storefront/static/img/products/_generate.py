"""Generate flat-style SVG product images, the placeholder and the logo.

Run from anywhere: ``python storefront/static/img/products/_generate.py``.
Reads ``storefront/catalog_data.py`` by file path, so it needs only the stdlib.
"""

import importlib.util
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
IMG_DIR = HERE.parent
CATALOG_PATH = HERE.parents[2] / "catalog_data.py"
MAX_BYTES = 4096
DARK = "#2b2d42"
TEXT = "#1f2430"

# category slug -> (background, palette of three icon colours)
THEMES = {
    "kitchen": ("#fdebe4", ["#c8553d", "#2f3e46", "#e09f3e"]),
    "coffee-tea": ("#f3e9dc", ["#8a5a44", "#c08552", "#5e3023"]),
    "home-office": ("#e6eef7", ["#3d5a80", "#98c1d9", "#293241"]),
    "outdoor": ("#e4f1e4", ["#4f772d", "#90a955", "#31572c"]),
    "audio": ("#ece6f6", ["#6a4c93", "#8d6cc9", "#3c2a5c"]),
    "fitness": ("#e1f4f1", ["#2a9d8f", "#e76f51", "#264653"]),
    "books": ("#f6f0dc", ["#bc4749", "#386641", "#1d3557"]),
    "toys-games": ("#fff3d6", ["#ef476f", "#118ab2", "#f4a259"]),
}
DEFAULT_THEME = ("#eceff3", ["#7b8794", "#9aa5b1", "#52606d"])

# Icon templates: {p} primary, {a} accent, {d} dark detail colour.
ICONS = {
    "pan": (
        '<rect x="385" y="246" width="175" height="30" rx="15" fill="{d}"/>'
        '<circle cx="270" cy="261" r="130" fill="{d}"/>'
        '<circle cx="270" cy="261" r="106" fill="{p}"/>'
        '<ellipse cx="230" cy="220" rx="40" ry="22" fill="#fff" opacity=".25"/>'
    ),
    "mitt": (
        '<path d="M230 390V220q0-80 70-80t70 80v40q50-30 70 10t-50 80l-20 40z"'
        ' fill="{p}"/>'
        '<rect x="215" y="370" width="170" height="44" rx="12" fill="{a}"/>'
    ),
    "knife": (
        '<path d="M120 300Q240 215 400 248V300z" fill="#dfe3e8" stroke="{d}"'
        ' stroke-width="6"/>'
        '<rect x="400" y="246" width="140" height="56" rx="16" fill="{p}"/>'
        '<circle cx="440" cy="274" r="7" fill="{a}"/>'
        '<circle cx="470" cy="274" r="7" fill="{a}"/>'
        '<circle cx="500" cy="274" r="7" fill="{a}"/>'
    ),
    "board": (
        '<rect x="130" y="170" width="340" height="210" rx="26" fill="{p}"/>'
        '<rect x="152" y="192" width="296" height="166" rx="16" fill="none"'
        ' stroke="{a}" stroke-width="7"/>'
        '<path d="M190 240h120M190 275h180M190 310h90" stroke="{d}"'
        ' stroke-width="6" opacity=".3"/>'
    ),
    "pot": (
        '<rect x="118" y="252" width="52" height="26" rx="13" fill="{d}"/>'
        '<rect x="430" y="252" width="52" height="26" rx="13" fill="{d}"/>'
        '<rect x="160" y="215" width="280" height="185" rx="34" fill="{p}"/>'
        '<rect x="148" y="192" width="304" height="38" rx="19" fill="{a}"/>'
        '<rect x="278" y="160" width="44" height="36" rx="10" fill="{d}"/>'
    ),
    "bowl": (
        '<path d="M140 230h320q-10 170-160 170T140 230z" fill="{p}"/>'
        '<rect x="128" y="216" width="344" height="26" rx="13" fill="{a}"/>'
        '<path d="M200 170h200" stroke="{d}" stroke-width="14"'
        ' stroke-linecap="round" opacity=".5"/>'
    ),
    "mug": (
        '<circle cx="390" cy="295" r="52" fill="none" stroke="{p}"'
        ' stroke-width="24"/>'
        '<rect x="180" y="200" width="200" height="205" rx="26" fill="{p}"/>'
        '<rect x="180" y="250" width="200" height="26" fill="{a}"/>'
        '<path d="M235 175q-22-30 0-60M285 175q-22-30 0-60M335 175q-22-30 0-60"'
        ' fill="none" stroke="{d}" stroke-width="9" stroke-linecap="round"'
        ' opacity=".45"/>'
    ),
    "dripper": (
        '<rect x="215" y="300" width="170" height="110" rx="22" fill="{a}"/>'
        '<path d="M170 180h260l-80 120h-100z" fill="{p}"/>'
        '<rect x="158" y="166" width="284" height="22" rx="11" fill="{d}"/>'
        '<path d="M300 200v80" stroke="#fff" stroke-width="8" opacity=".35"/>'
    ),
    "kettle": (
        '<path d="M205 300Q140 280 112 195" fill="none" stroke="{p}"'
        ' stroke-width="18" stroke-linecap="round"/>'
        '<path d="M180 400l20-180q100-32 200 0l20 180z" fill="{p}"/>'
        '<path d="M230 214q70-100 140 0" fill="none" stroke="{d}"'
        ' stroke-width="18"/>'
        '<rect x="158" y="396" width="284" height="22" rx="11" fill="{d}"/>'
        '<rect x="196" y="300" width="208" height="20" fill="{a}"/>'
    ),
    "grinder": (
        '<path d="M200 140h200l-30 92h-140z" fill="{a}" opacity=".85"/>'
        '<rect x="205" y="228" width="190" height="185" rx="22" fill="{p}"/>'
        '<circle cx="300" cy="310" r="40" fill="{d}"/>'
        '<circle cx="300" cy="310" r="13" fill="{a}"/>'
    ),
    "tins": (
        '<rect x="145" y="220" width="95" height="185" rx="12" fill="{p}"/>'
        '<rect x="252" y="185" width="95" height="220" rx="12" fill="{a}"/>'
        '<rect x="360" y="240" width="95" height="165" rx="12" fill="{p}"/>'
        '<path d="M145 235h95M252 200h95M360 255h95" stroke="{d}"'
        ' stroke-width="14"/>'
    ),
    "filters": (
        '<path d="M150 180h250l-75 200h-100z" fill="#fffaf0" stroke="{a}"'
        ' stroke-width="6"/>'
        '<path d="M200 160h250l-75 200h-100z" fill="#fffaf0" stroke="{p}"'
        ' stroke-width="6"/>'
        '<path d="M265 220h120M285 280h80" stroke="{p}" stroke-width="5"'
        ' opacity=".4"/>'
    ),
    "laptop": (
        '<path d="M220 360h160l-30 50h-100z" fill="{d}" opacity=".55"/>'
        '<rect x="165" y="140" width="270" height="180" rx="14" fill="{d}"/>'
        '<rect x="181" y="156" width="238" height="148" rx="6" fill="{p}"/>'
        '<path d="M125 325h350l-30 38h-290z" fill="{a}"/>'
    ),
    "mouse": (
        '<path d="M300 160q0-55 70-65" fill="none" stroke="{d}"'
        ' stroke-width="8"/>'
        '<rect x="225" y="160" width="150" height="240" rx="75" fill="{p}"/>'
        '<path d="M300 160v95M225 255h150" stroke="{d}" stroke-width="5"'
        ' opacity=".4"/>'
        '<rect x="291" y="190" width="18" height="40" rx="9" fill="{a}"/>'
    ),
    "lamp": (
        '<path d="M300 180l110 180H190z" fill="{a}" opacity=".3"/>'
        '<path d="M250 395l-40-140 110-95" fill="none" stroke="{d}"'
        ' stroke-width="16" stroke-linejoin="round" stroke-linecap="round"/>'
        '<path d="M300 120l120 60-40 50-110-55z" fill="{p}"/>'
        '<rect x="170" y="385" width="170" height="26" rx="13" fill="{d}"/>'
    ),
    "notebook": (
        '<rect x="185" y="130" width="230" height="285" rx="14" fill="{p}"/>'
        '<rect x="185" y="130" width="32" height="285" fill="{d}" opacity=".3"/>'
        '<rect x="370" y="130" width="14" height="285" fill="{a}"/>'
        '<path d="M300 415v40l14-12 14 12v-40" fill="{a}"/>'
    ),
    "deskmat": (
        '<rect x="90" y="190" width="420" height="220" rx="26" fill="{p}"/>'
        '<rect x="130" y="245" width="230" height="100" rx="12" fill="{d}"'
        ' opacity=".6"/>'
        '<rect x="395" y="255" width="60" height="90" rx="30" fill="{d}"'
        ' opacity=".6"/>'
    ),
    "mountain": (
        '<circle cx="420" cy="170" r="45" fill="{a}"/>'
        '<path d="M100 410l150-240 90 140 50-70 110 170z" fill="{p}"/>'
        '<path d="M250 170l-40 64h80z" fill="#fff" opacity=".7"/>'
    ),
    "bottle": (
        '<circle cx="300" cy="100" r="18" fill="none" stroke="{d}"'
        ' stroke-width="8"/>'
        '<rect x="262" y="135" width="76" height="60" rx="10" fill="{p}"/>'
        '<rect x="248" y="108" width="104" height="40" rx="12" fill="{d}"/>'
        '<rect x="230" y="170" width="140" height="245" rx="44" fill="{p}"/>'
        '<rect x="230" y="270" width="140" height="34" fill="{a}"/>'
    ),
    "hammock": (
        '<rect x="118" y="170" width="26" height="245" fill="{d}"/>'
        '<rect x="456" y="170" width="26" height="245" fill="{d}"/>'
        '<circle cx="131" cy="160" r="58" fill="{a}"/>'
        '<circle cx="469" cy="160" r="58" fill="{a}"/>'
        '<path d="M144 235q156 190 312 0-156 130-312 0z" fill="{p}"/>'
    ),
    "poles": (
        '<path d="M90 410l170-220 170 220z" fill="{a}" opacity=".4"/>'
        '<path d="M230 110l55 310M370 110l-55 310" stroke="{d}"'
        ' stroke-width="12" stroke-linecap="round"/>'
        '<path d="M230 110l12 70M370 110l-12 70" stroke="{p}"'
        ' stroke-width="30" stroke-linecap="round"/>'
    ),
    "headlamp": (
        '<ellipse cx="300" cy="270" rx="160" ry="95" fill="none" stroke="{p}"'
        ' stroke-width="26"/>'
        '<path d="M300 360l-120 60h240z" fill="{a}" opacity=".35"/>'
        '<rect x="235" y="300" width="130" height="95" rx="22" fill="{d}"/>'
        '<circle cx="300" cy="347" r="32" fill="{a}"/>'
    ),
    "jacket": (
        '<path d="M225 140h150l85 85-32 42-28-22v170H200V245l-28 22-32-42z"'
        ' fill="{p}"/>'
        '<path d="M300 165v250" stroke="{d}" stroke-width="6"/>'
        '<path d="M255 140q45 60 90 0" fill="{a}"/>'
    ),
    "stove": (
        '<path d="M300 150q45 55 22 100h-44q-23-45 22-100z" fill="{a}"/>'
        '<path d="M230 262h140" stroke="{d}" stroke-width="10"'
        ' stroke-linecap="round"/>'
        '<rect x="272" y="262" width="56" height="46" fill="{d}"/>'
        '<rect x="215" y="300" width="170" height="115" rx="32" fill="{p}"/>'
    ),
    "headphones": (
        '<path d="M180 300q0-160 120-160t120 160" fill="none" stroke="{d}"'
        ' stroke-width="22"/>'
        '<rect x="145" y="265" width="75" height="130" rx="32" fill="{p}"/>'
        '<rect x="380" y="265" width="75" height="130" rx="32" fill="{p}"/>'
        '<rect x="206" y="285" width="22" height="90" rx="10" fill="{a}"/>'
        '<rect x="372" y="285" width="22" height="90" rx="10" fill="{a}"/>'
    ),
    "stand": (
        '<rect x="210" y="392" width="180" height="24" rx="12" fill="{d}"/>'
        '<rect x="288" y="170" width="24" height="225" fill="{p}"/>'
        '<path d="M200 330q0-170 100-170t100 170" fill="none" stroke="{d}"'
        ' stroke-width="18"/>'
        '<rect x="172" y="300" width="60" height="105" rx="26" fill="{a}"/>'
        '<rect x="368" y="300" width="60" height="105" rx="26" fill="{a}"/>'
    ),
    "speaker": (
        '<rect x="160" y="175" width="280" height="220" rx="54" fill="{p}"/>'
        '<circle cx="238" cy="285" r="48" fill="{d}"/>'
        '<circle cx="362" cy="285" r="48" fill="{d}"/>'
        '<circle cx="238" cy="285" r="18" fill="{a}"/>'
        '<circle cx="362" cy="285" r="18" fill="{a}"/>'
    ),
    "earbuds": (
        '<rect x="185" y="270" width="230" height="145" rx="60" fill="#fff"'
        ' stroke="{d}" stroke-width="6"/>'
        '<path d="M185 330h230" stroke="{d}" stroke-width="5" opacity=".4"/>'
        '<rect x="236" y="190" width="24" height="90" rx="12" fill="{p}"/>'
        '<rect x="340" y="190" width="24" height="90" rx="12" fill="{p}"/>'
        '<circle cx="240" cy="190" r="38" fill="{p}"/>'
        '<circle cx="360" cy="190" r="38" fill="{p}"/>'
        '<circle cx="240" cy="190" r="14" fill="{a}"/>'
        '<circle cx="360" cy="190" r="14" fill="{a}"/>'
    ),
    "microphone": (
        '<path d="M215 235q0 110 85 110t85-110M300 345v55" fill="none"'
        ' stroke="{d}" stroke-width="12"/>'
        '<rect x="225" y="396" width="150" height="22" rx="11" fill="{d}"/>'
        '<rect x="248" y="115" width="104" height="180" rx="52" fill="{p}"/>'
        '<path d="M248 170h104M248 200h104M248 230h104" stroke="{a}"'
        ' stroke-width="7"/>'
    ),
    "turntable": (
        '<rect x="105" y="160" width="390" height="260" rx="22" fill="{a}"/>'
        '<circle cx="265" cy="290" r="112" fill="{d}"/>'
        '<circle cx="265" cy="290" r="80" fill="none" stroke="#fff"'
        ' stroke-width="2" opacity=".3"/>'
        '<circle cx="265" cy="290" r="36" fill="{p}"/>'
        '<path d="M450 190l-10 140-80 35" fill="none" stroke="#eef0f3"'
        ' stroke-width="10" stroke-linecap="round"/>'
    ),
    "dumbbell": (
        '<rect x="140" y="275" width="320" height="24" rx="8" fill="{d}"/>'
        '<rect x="150" y="200" width="52" height="175" rx="12" fill="{p}"/>'
        '<rect x="208" y="225" width="34" height="125" rx="10" fill="{a}"/>'
        '<rect x="398" y="200" width="52" height="175" rx="12" fill="{p}"/>'
        '<rect x="358" y="225" width="34" height="125" rx="10" fill="{a}"/>'
    ),
    "yogamat": (
        '<rect x="280" y="370" width="220" height="32" rx="6" fill="{p}"/>'
        '<circle cx="280" cy="290" r="110" fill="{p}"/>'
        '<circle cx="280" cy="290" r="78" fill="none" stroke="{a}"'
        ' stroke-width="9"/>'
        '<circle cx="280" cy="290" r="44" fill="none" stroke="{a}"'
        ' stroke-width="9"/>'
    ),
    "roller": (
        '<rect x="120" y="225" width="350" height="130" rx="65" fill="{p}"/>'
        '<ellipse cx="440" cy="290" rx="32" ry="65" fill="{a}"/>'
        '<path d="M180 250v80M230 250v80M280 250v80M330 250v80M380 250v80"'
        ' stroke="{d}" stroke-width="8" stroke-linecap="round" opacity=".3"/>'
    ),
    "bands": (
        '<ellipse cx="250" cy="260" rx="110" ry="70" fill="none" stroke="{p}"'
        ' stroke-width="22"/>'
        '<ellipse cx="350" cy="300" rx="110" ry="70" fill="none" stroke="{a}"'
        ' stroke-width="22"/>'
        '<ellipse cx="300" cy="345" rx="110" ry="50" fill="none" stroke="{d}"'
        ' stroke-width="16"/>'
    ),
    "jumprope": (
        '<path d="M200 375Q300-40 400 375" fill="none" stroke="{a}"'
        ' stroke-width="8"/>'
        '<rect x="184" y="365" width="32" height="70" rx="14" fill="{p}"/>'
        '<rect x="384" y="365" width="32" height="70" rx="14" fill="{p}"/>'
    ),
    "yogablocks": (
        '<rect x="150" y="235" width="145" height="175" rx="16" fill="{p}"/>'
        '<rect x="305" y="190" width="145" height="220" rx="16" fill="{a}"/>'
        '<path d="M170 260h105M325 215h105" stroke="#fff" stroke-width="6"'
        ' opacity=".35"/>'
    ),
    "book": (
        '<rect x="200" y="395" width="215" height="22" rx="4" fill="#fff"'
        ' stroke="{d}" stroke-width="3"/>'
        '<rect x="185" y="125" width="235" height="280" rx="10" fill="{p}"/>'
        '<rect x="185" y="125" width="32" height="280" fill="{d}" opacity=".3"/>'
        '<rect x="250" y="180" width="130" height="64" rx="6" fill="{a}"/>'
        '<path d="M250 285h130M250 310h90" stroke="#fff" stroke-width="8"'
        ' opacity=".6"/>'
    ),
    "blocks": (
        '<rect x="165" y="290" width="125" height="125" rx="12" fill="{p}"/>'
        '<rect x="310" y="290" width="125" height="125" rx="12" fill="{a}"/>'
        '<rect x="238" y="160" width="125" height="125" rx="12" fill="{d}"/>'
        '<g fill="#fff" font-family="Georgia,serif" font-size="72"'
        ' font-weight="700" text-anchor="middle">'
        '<text x="227" y="378">A</text><text x="372" y="378">B</text>'
        '<text x="300" y="248">C</text></g>'
    ),
    "game": (
        '<rect x="150" y="215" width="160" height="160" rx="26" fill="#fff"'
        ' stroke="{d}" stroke-width="8"/>'
        '<g fill="{d}"><circle cx="195" cy="260" r="14"/>'
        '<circle cx="230" cy="295" r="14"/><circle cx="265" cy="330" r="14"/>'
        "</g>"
        '<circle cx="400" cy="215" r="38" fill="{p}"/>'
        '<path d="M355 410l25-150h40l25 150z" fill="{p}"/>'
        '<rect x="340" y="398" width="120" height="18" rx="9" fill="{a}"/>'
    ),
    "puzzle": (
        '<path d="M180 200h70a35 35 0 1 1 70 0h70v70a35 35 0 1 1 0 70v70H180z"'
        ' fill="{p}"/>'
        '<path d="M200 390l80-90 50 50 40-40" fill="none" stroke="#fff"'
        ' stroke-width="10" stroke-linejoin="round" opacity=".5"/>'
    ),
    "tiles": (
        '<g stroke="{d}" stroke-width="5" opacity=".85">'
        '<rect x="170" y="260" width="130" height="130" fill="{p}"/>'
        '<rect x="300" y="260" width="130" height="130" fill="{a}"/>'
        '<path d="M170 260h130l-65-110z" fill="{a}"/>'
        '<path d="M300 260h130l-65-110z" fill="{p}"/></g>'
    ),
    "cards": (
        '<rect x="175" y="150" width="170" height="240" rx="18" fill="{a}"'
        ' stroke="{d}" stroke-width="6" transform="rotate(-12 260 270)"/>'
        '<rect x="255" y="150" width="170" height="240" rx="18" fill="#fff"'
        ' stroke="{d}" stroke-width="6" transform="rotate(8 340 270)"/>'
        '<path d="M340 315c-60-45-50-95 0-75 50-20 60 30 0 75z" fill="{p}"/>'
    ),
    "kite": (
        '<path d="M300 375q-35 30 0 55t0 55" fill="none" stroke="{a}"'
        ' stroke-width="7"/>'
        '<path d="M300 105l105 135-105 135-105-135z" fill="{p}"/>'
        '<path d="M300 105v270M195 240h210" stroke="{d}" stroke-width="5"/>'
    ),
    "frame": (
        '<rect x="160" y="150" width="280" height="220" rx="18" fill="#fff"'
        ' stroke="{d}" stroke-width="10"/>'
        '<circle cx="375" cy="205" r="24" fill="{a}"/>'
        '<path d="M180 350l80-100 55 65 35-40 70 75z" fill="{p}"/>'
    ),
}

# Slug keyword -> icon, first match wins; categories fall back below.
KEYWORD_ICONS = [
    ("skillet", "pan"), ("mitt", "mitt"), ("knife", "knife"),
    ("cutting-board", "board"), ("dutch-oven", "pot"), ("bowl", "bowl"),
    ("dripper", "dripper"), ("kettle", "kettle"), ("grinder", "grinder"),
    ("filter", "filters"), ("tea", "tins"), ("mug", "mug"),
    ("laptop", "laptop"), ("keyboard", "keyboard"), ("mouse", "mouse"),
    ("desk-lamp", "lamp"), ("notebook", "notebook"), ("desk-mat", "deskmat"),
    ("bottle", "bottle"), ("hammock", "hammock"), ("poles", "poles"),
    ("headlamp", "headlamp"), ("jacket", "jacket"), ("stove", "stove"),
    ("headphone-stand", "stand"), ("headphones", "headphones"),
    ("speaker", "speaker"), ("earbuds", "earbuds"),
    ("microphone", "microphone"), ("turntable", "turntable"),
    ("dumbbell", "dumbbell"), ("yoga-mat", "yogamat"), ("roller", "roller"),
    ("band", "bands"), ("jump-rope", "jumprope"), ("yoga-block", "yogablocks"),
    ("puzzle", "puzzle"), ("tiles", "tiles"), ("cards", "cards"),
    ("kite", "kite"), ("game", "game"), ("blocks", "blocks"),
]  # fmt: skip
CATEGORY_ICONS = {
    "kitchen": "pan",
    "coffee-tea": "mug",
    "home-office": "laptop",
    "outdoor": "mountain",
    "audio": "headphones",
    "fitness": "dumbbell",
    "books": "book",
    "toys-games": "blocks",
}


def load_catalog():
    """Import catalog_data.py by path (works before storefront is a package)."""
    spec = importlib.util.spec_from_file_location("_catalog_data", CATALOG_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def keyboard_icon(p: str, a: str, d: str) -> str:
    parts = [f'<rect x="110" y="205" width="380" height="170" rx="18" fill="{d}"/>']
    for row in range(3):
        for col in range(10):
            x = 128 + col * 35
            y = 222 + row * 36
            parts.append(f'<rect x="{x}" y="{y}" width="28" height="28" rx="5"/>')
    keys = "".join(parts[1:])
    return (
        parts[0]
        + f'<g fill="{p}">{keys}</g>'
        + f'<rect x="198" y="330" width="204" height="28" rx="6" fill="{a}"/>'
    )


def icon_svg(name: str, p: str, a: str, d: str = DARK) -> str:
    if name == "keyboard":
        return keyboard_icon(p, a, d)
    return ICONS[name].format(p=p, a=a, d=d)


def pick_icon(slug: str, category: str) -> str:
    for keyword, icon in KEYWORD_ICONS:
        if keyword in slug:
            return icon
    return CATEGORY_ICONS.get(category, "frame")


def title_lines(title: str) -> tuple[list[str], int]:
    """Split a title into one or two balanced lines and pick a font size that fits."""
    words = title.split()
    lines = [title]
    if len(title) > 24 and len(words) > 1:
        splits = ([" ".join(words[:i]), " ".join(words[i:])] for i in range(1, len(words)))
        lines = min(splits, key=lambda pair: max(len(part) for part in pair))
    longest = max(len(line) for line in lines)
    return lines, max(18, min(36, int(560 / (0.6 * longest))))


def render(title: str, bg: str, icon: str, subtitle: str = "") -> str:
    lines, size = title_lines(title)
    ys = [528] if len(lines) == 1 else [508, 508 + int(size * 1.25)]
    text = "".join(
        f'<text x="300" y="{y}">{escape(line)}</text>' for y, line in zip(ys, lines, strict=True)
    )
    sub = ""
    if subtitle:
        sub = (
            f'<text x="300" y="64" font-size="22" fill="{TEXT}" opacity=".55"'
            f' letter-spacing="3">{escape(subtitle.upper())}</text>'
        )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 600 600"'
        f' width="600" height="600" role="img"><title>{escape(title)}</title>'
        f'<rect width="600" height="600" fill="{bg}"/>'
        '<circle cx="300" cy="270" r="200" fill="#fff" opacity=".45"/>'
        f"{icon}"
        '<rect y="455" width="600" height="145" fill="#fff" opacity=".6"/>'
        '<g font-family="system-ui,-apple-system,Segoe UI,Helvetica,Arial,'
        'sans-serif" text-anchor="middle">'
        f'<g font-size="{size}" font-weight="700" fill="{TEXT}">{text}</g>'
        f"{sub}</g></svg>\n"
    )


def logo_svg() -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 40"'
        ' width="200" height="40" role="img"><title>Touchpoint</title>'
        '<path d="M7 31C17 31 13 9 27 9" fill="none" stroke="#3d5a80"'
        ' stroke-width="3" stroke-linecap="round" stroke-dasharray="1 5"/>'
        '<circle cx="7" cy="31" r="4" fill="#3d5a80"/>'
        '<circle cx="29" cy="9" r="6" fill="#e76f51"/>'
        '<circle cx="29" cy="9" r="2.2" fill="#fff"/>'
        '<text x="42" y="28" font-family="system-ui,-apple-system,Segoe UI,'
        'Helvetica,Arial,sans-serif" font-size="21" font-weight="700"'
        ' letter-spacing=".3" fill="#1f2430">Touch<tspan fill="#3d5a80">point'
        "</tspan></text></svg>\n"
    )


def write(path: Path, svg: str) -> None:
    size = len(svg.encode("utf-8"))
    if size > MAX_BYTES:
        raise ValueError(f"{path.name} is {size} bytes (limit {MAX_BYTES})")
    path.write_text(svg, encoding="utf-8")


def main() -> None:
    catalog = load_catalog()
    names = {c["slug"]: c["name"] for c in catalog.CATEGORIES}
    seen: dict[str, int] = {}
    for product in catalog.PRODUCTS:
        category = product["category"]
        bg, palette = THEMES.get(category, DEFAULT_THEME)
        i = seen.get(category, 0)
        seen[category] = i + 1
        primary, accent = palette[i % 3], palette[(i + 1) % 3]
        icon = icon_svg(pick_icon(product["slug"], category), primary, accent)
        svg = render(product["title"], bg, icon, names.get(category, ""))
        write(HERE / product["image"], svg)

    bg, palette = DEFAULT_THEME
    placeholder = render("No image available", bg, icon_svg("frame", *palette))
    write(IMG_DIR / "placeholder.svg", placeholder)
    write(IMG_DIR / "logo.svg", logo_svg())
    print(f"wrote {len(catalog.PRODUCTS)} product images, placeholder and logo")


if __name__ == "__main__":
    main()

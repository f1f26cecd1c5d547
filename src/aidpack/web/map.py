"""A choropleth of Ukraine's regions as inline SVG, drawn on the server from the packaged GeoJSON.

No tiles, no JavaScript: the outlines are projected once (equirectangular, scaled by the cosine of the
mean latitude) and each request only picks the fills. Regions are matched by ISO 3166-2 code.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from markupsafe import Markup, escape

GEOJSON = Path(__file__).resolve().parent / "static" / "geo" / "ukraine_adm1.geojson"
WIDTH = 640.0
PADDING = 6.0
#: Sequential, colour-blind-safe classes (ColorBrewer YlGnBu), from little coverage to full.
CLASSES: tuple[tuple[float, str], ...] = (
    (0.2, "#ffffcc"),
    (0.4, "#a1dab4"),
    (0.6, "#41b6c4"),
    (0.8, "#2c7fb8"),
    (1.01, "#253494"),
)
NO_DATA = "#e3e3e3"


@dataclass(frozen=True)
class Shape:
    code: str
    name_en: str
    name_uk: str
    path: str


@dataclass(frozen=True)
class Outline:
    width: float
    height: float
    shapes: tuple[Shape, ...]
    attribution: str


def _rings(geometry: dict[str, object]) -> list[list[list[float]]]:
    coords = geometry["coordinates"]
    assert isinstance(coords, list)
    if geometry["type"] == "Polygon":
        return list(coords)
    return [ring for polygon in coords for ring in polygon]


@lru_cache(maxsize=1)
def outline() -> Outline:
    """Every region's outline as an SVG path in a WIDTH-wide box (computed once)."""
    data = json.loads(GEOJSON.read_text(encoding="utf-8"))
    features = data["features"]
    points = [pt for f in features for ring in _rings(f["geometry"]) for pt in ring]
    min_lon, max_lon = min(p[0] for p in points), max(p[0] for p in points)
    min_lat, max_lat = min(p[1] for p in points), max(p[1] for p in points)
    kx = math.cos(math.radians((min_lat + max_lat) / 2))
    scale = (WIDTH - 2 * PADDING) / ((max_lon - min_lon) * kx)
    height = (max_lat - min_lat) * scale + 2 * PADDING

    def project(lon: float, lat: float) -> str:
        x = PADDING + (lon - min_lon) * kx * scale
        y = PADDING + (max_lat - lat) * scale
        return f"{round(x)} {round(y)}"

    shapes = []
    for feature in features:
        props = feature["properties"]
        parts = []
        for ring in _rings(feature["geometry"]):
            projected: list[str] = []
            for lon, lat in ring:
                point = project(lon, lat)
                if not projected or projected[-1] != point:
                    projected.append(point)
            if len(projected) >= 3:
                parts.append("M" + "L".join(projected) + "Z")
        shapes.append(Shape(props["iso_3166_2"], props["name_en"], props["name_uk"], "".join(parts)))
    return Outline(WIDTH, round(height, 1), tuple(sorted(shapes, key=lambda s: s.code)), data.get("attribution", ""))


def fill_for(share: float | None) -> str:
    if share is None:
        return NO_DATA
    for upper, colour in CLASSES:
        if share < upper:
            return colour
    return CLASSES[-1][1]


def render_svg(shares: dict[str, float], labels: dict[str, str], *, lang: str, title: str) -> Markup:
    """The map: each region filled by its share (0..1) or grey without data; ``labels`` become tooltips."""
    shape_outline = outline()
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg"'
        f' viewBox="0 0 {shape_outline.width:.0f} {shape_outline.height:.0f}"'
        f' class="map" role="img" aria-labelledby="map-title"><title id="map-title">{escape(title)}</title>'
    ]
    for shape in shape_outline.shapes:
        name = shape.name_uk if lang == "uk" else shape.name_en
        tip = f"{name}: {labels[shape.code]}" if shape.code in labels else name
        out.append(
            f'<path data-region="{escape(shape.code)}" d="{shape.path}"'
            f' fill="{fill_for(shares.get(shape.code))}">'
            f"<title>{escape(tip)}</title></path>"
        )
    out.append("</svg>")
    return Markup("".join(out))

"""The web page: one HTML file, its script and style, and the drawing libraries that
`make web` installs with `npm ci` from service/web/package-lock.json, all served by the
API's own app (no front-end server). The page holds no data: it calls the same endpoints
as any client, with the key the user types, so it sees exactly what that key may see.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

WEB = Path(__file__).resolve().parents[1] / "web"
STATIC = WEB / "static"
#: The page's libraries: the file it asks for -> where npm puts it under node_modules.
VENDOR = {
    "cytoscape.min.js": "cytoscape/dist/cytoscape.min.js",
    "cytoscape-dagre.min.js": "cytoscape-dagre/dist/cytoscape-dagre.min.js",
}
_STATIC_FILES = {"page.js", "page.css"}
#: Scripts and styles from this app only; cytoscape sets inline styles on its canvas.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def missing_libraries(web: Path = WEB) -> list[str]:
    """The page's libraries not installed under `web`/node_modules (empty when ready)."""
    return [name for name, path in VENDOR.items() if not (web / "node_modules" / path).is_file()]


@router.get("/")
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=_HEADERS)


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    if name not in _STATIC_FILES:
        raise HTTPException(404, f"no page file {name!r}")
    return FileResponse(STATIC / name, headers=_HEADERS)


@router.get("/vendor/{name}")
def vendor(name: str) -> FileResponse:
    if name not in VENDOR:
        raise HTTPException(404, f"no page library {name!r}")
    path = WEB / "node_modules" / VENDOR[name]
    if not path.is_file():
        raise HTTPException(
            503, f"the page's library {name} is not installed: run `make web` (npm ci in {WEB})"
        )
    return FileResponse(path, media_type="text/javascript", headers=_HEADERS)
